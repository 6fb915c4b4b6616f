package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSearch(t *testing.T) {
	_, hs := newServer(t, Options{})
	var b strings.Builder
	b.WriteString(`{"url": {`)
	for i := 0; i < 450; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"/p%d": %d`, i, i)
	}
	b.WriteString(`}, "br": {"ie": {"7": 1}}}`)
	if r := do(t, "POST", hs.URL+"/push", "application/json", b.String()); r.code != 200 {
		t.Fatalf("push: %d %s", r.code, r.body)
	}
	for _, c := range []struct {
		query        string
		code         int
		total, shown int
		first        string
	}{
		{"q=url", 200, 451, 200, "url"},              // the subtree and its 450 leaves, capped
		{"q=URL,/P4&limit=5", 200, 61, 5, "url,/p4"}, // /p4, /p40…/p49, /p400…/p449
		{"q=IE", 200, 2, 2, "br,ie"},
		{"q=", 200, 454, 200, "br"},
		{"q=nosuch", 200, 0, 0, ""},
		{"q=url&limit=0", 400, 0, 0, ""},
		{"q=url&limit=x", 400, 0, 0, ""},
	} {
		r := do(t, "GET", hs.URL+"/search?"+c.query, "", "")
		var got struct {
			Keys []struct {
				Key   string   `json:"key"`
				Value *float64 `json:"value"`
			} `json:"keys"`
			Total, Shown int
		}
		err := json.Unmarshal([]byte(r.body), &got)
		switch {
		case r.code != c.code || err != nil:
			t.Errorf("%s: %d %s, want %d", c.query, r.code, r.body, c.code)
		case c.code != 200:
		case got.Total != c.total || got.Shown != c.shown || len(got.Keys) != c.shown || (c.shown > 0 && got.Keys[0].Key != c.first):
			t.Errorf("%s: total %d shown %d (%d keys, first %v), want %d, %d, %q", c.query, got.Total, got.Shown, len(got.Keys), got.Keys, c.total, c.shown, c.first)
		}
	}
	r := do(t, "GET", hs.URL+"/search?q=ie,7", "", "")
	if !strings.Contains(r.body, `{"key":"br,ie,7","value":1}`) {
		t.Errorf("a leaf carries its value: %s", r.body)
	}
}
