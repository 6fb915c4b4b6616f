package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBadPushIs400AndChangesNothing: every kind of bad push is answered
// 400 with a JSON error naming the offending path, and the tree (values and
// version) is exactly as before.
func TestBadPushIs400AndChangesNothing(t *testing.T) {
	s, hs := newServer(t, Options{})
	seed := `[{"cpu": {"10.3.1.12": {"idle": 32, "marker": "sth. wrong happened"}}, "defaultaction": "average"}, {"br": {"ie": {"7": {"": 8, "venders": {"sogou": 2}}}}, "defaultaction": "add"}]`
	if r := do(t, "POST", hs.URL+"/push", "application/json", seed); r.code != http.StatusOK {
		t.Fatalf("seed push: %d %s", r.code, r.body)
	}
	before := do(t, "GET", hs.URL+"/get/", "", "").body
	version := s.opt.Tree.Version()
	tests := []struct {
		ctype, body, path string
	}{
		{"application/json", `{"br": {"ie": {"7": true}}}`, "br,ie,7"},
		{"application/json", `{"br": {"ie": {"6": 1, "7": {"venders": {"sogou": "x"}}}}}`, "br,ie,7,venders,sogou"},
		{"application/json", `{"cpu": {"10.3.1.12": {"marker": 1}}}`, "cpu,10.3.1.12,marker"},
		{"application/json", `{"br": {"ie": {"8": 1}}, "defaultaction": "sum"}`, "defaultaction"},
		{"application/json", `{"br": {"ie": {"9": 1, "x": [1, 2]}}}`, "br,ie,x"},
		{"application/json", `{"br": `, "JSON"},
		{"application/x-www-form-urlencoded", `json=` + `%7B%22br%22%3A%7B%22ie%22%3Anull%7D%7D`, "br,ie"},
	}
	for _, tc := range tests {
		r := do(t, "POST", hs.URL+"/push", tc.ctype, tc.body)
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(r.body), &e); r.code != http.StatusBadRequest || err != nil || !strings.Contains(e.Error, tc.path) {
			t.Errorf("push %s: %d %s; want 400 with a JSON error naming %q", tc.body, r.code, r.body, tc.path)
		}
	}
	if after := do(t, "GET", hs.URL+"/get/", "", "").body; after != before || s.opt.Tree.Version() != version {
		t.Errorf("bad pushes changed the tree:\n%s\nwant\n%s", after, before)
	}
}
