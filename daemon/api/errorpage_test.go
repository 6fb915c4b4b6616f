package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestErrorPages: browsers get an HTML page with a way back, every other
// client the JSON error.
func TestErrorPages(t *testing.T) {
	s, hs := newServer(t, Options{})
	TrendRoutes(s.Router(), openTrend(t), nil)
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, c := range []struct {
		name, path, accept string
		code               int
		html               bool
		msg                string
	}{
		{"unknown route, browser", "/no/such<page>", browser, 404, true, "no route GET /no/such&lt;page&gt;"},
		{"unknown route, curl", "/no/such", "*/*", 404, false, "no route GET /no/such"},
		{"unknown route, no Accept", "/no/such", "", 404, false, "no route GET /no/such"},
		{"unknown route, fetch JSON", "/no/such", "application/json", 404, false, "no route GET /no/such"},
		{"bad key, browser", "/get?key=br,%5B", browser, 400, true, "br,["},
		{"bad key, JSON", "/get?key=br,%5B", "application/json, text/plain, */*", 400, false, "br,["},
		{"bad trend, browser", "/trend?key=x&points=0", browser, 400, true, "points=&#34;0&#34;: want a positive number"},
		{"bad trend, JSON", "/trend?key=x&points=0", "", 400, false, `points="0": want a positive number`},
	} {
		var hdr []string
		if c.accept != "" {
			hdr = []string{"Accept", c.accept}
		}
		r := do(t, "GET", hs.URL+c.path, "", "", hdr...)
		ctype := r.header.Get("Content-Type")
		switch {
		case r.code != c.code:
			t.Errorf("%s: %d %s, want %d", c.name, r.code, r.body, c.code)
		case c.html && (!strings.HasPrefix(ctype, "text/html") || !strings.Contains(r.body, `<a class="back" href="/">`) || !strings.Contains(r.body, c.msg)):
			t.Errorf("%s: %s %s, want an HTML page with a link to / and %q", c.name, ctype, r.body, c.msg)
		case !c.html:
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || !strings.HasPrefix(ctype, "application/json") || !strings.Contains(e.Error, c.msg) {
				t.Errorf("%s: %s %s, want JSON with %q", c.name, ctype, r.body, c.msg)
			}
		}
	}
}
