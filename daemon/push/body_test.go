package push

import (
	"errors"
	"fmt"
	"testing"
)

func TestDecodeBody(t *testing.T) {
	const mp = "--b\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{\"a\":1}\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"accesslog\"; filename=\"x.log\"\r\n\r\nline 1\nline 2\r\n--b--\r\n"
	tests := []struct {
		ctype, body string
		want        string // JSON and Logs as printed; "" for an error
		err         error
	}{
		{"application/json", `{"a":1}`, `[{"a":1}] []`, nil},
		{"", `{"a":1}`, `[{"a":1}] []`, nil},
		{"text/plain; charset=utf-8", "l1\nl2\n", "[] [l1\nl2\n]", nil},
		{"application/x-www-form-urlencoded", `json=%7B%22a%22%3A1%7D&accesslog=l1`, `[{"a":1}] [l1]`, nil},
		{"application/x-www-form-urlencoded", ` {"a":1}`, `[ {"a":1}] []`, nil}, // curl -d with JSON
		{"application/x-www-form-urlencoded", `other=1`, "", ErrNoFields},
		{"multipart/form-data; boundary=b", mp, "[{\"a\":1}] [line 1\nline 2]", nil},
		{"multipart/form-data", mp, "", nil}, // no boundary: an error
	}
	for _, tc := range tests {
		p, err := DecodeBody(tc.ctype, []byte(tc.body), 1<<20)
		if tc.want == "" {
			if err == nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("%s %q: err %v, want %v", tc.ctype, tc.body, err, tc.err)
			}
			continue
		}
		var js []string
		for _, j := range p.JSON {
			js = append(js, string(j))
		}
		if got := fmt.Sprintf("%s %s", fmt.Sprint(js), fmt.Sprint(p.Logs)); err != nil || got != tc.want {
			t.Errorf("%s %q: got %q, %v; want %q", tc.ctype, tc.body, got, err, tc.want)
		}
	}
}

func TestLimitsCheckJSON(t *testing.T) {
	lim := Limits{MaxJSONDepth: 2, MaxPushNodes: 2}.WithDefaults()
	tests := []struct {
		body string
		key  string // "" when within the limits
	}{
		{`{"a": {"b": 1}}`, ""},
		{`{"a": {"b": {"c": 1}}}`, "max_json_depth"},
		{`{"a": "{{{{"}`, ""}, // braces in strings do not nest
		{`{"a": 1, "b": 2, "c": 3}`, "max_push_nodes"},
	}
	for _, tc := range tests {
		err := lim.CheckJSON([]byte(tc.body))
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s: %v, want no error", tc.body, err)
		case tc.key != "" && (err == nil || err.Key != tc.key):
			t.Errorf("%s: %v, want a %s error", tc.body, err, tc.key)
		}
	}
}
