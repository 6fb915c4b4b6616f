package chaos

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

const authConfig = `tokens:
  - {name: grafana, token: "read-secret", scopes: [read]}
  - {name: agents, token: "write-secret", scopes: [write]}
  - {name: admin, token: "rw-secret", scopes: [read, write]}
`

// route is one HTTP route tried by the auth table; write says whether it
// changes anything (and so needs write scope).
type route struct {
	method, path, body string
	write              bool
}

// open reports whether r is served to anyone by design: the UI pages and
// scripts hold no data (ui/README.md); they load without a token and send
// the user's with every request.
func (r route) open() bool {
	switch r.path {
	case "/", "/realtime/a", "/realtime/view/v1", "/trend/view/", "/setting/view", "/ui/app.js":
		return true
	}
	return false
}

func authRoutes() []route {
	return []route{
		{"GET", "/get/a", "", false},
		{"GET", "/pull/?key=a&since=0&timeout=0.1", "", false},
		{"GET", "/pull/a?timeout=0.1&access_token=%s", "", false}, // SSE-style query token
		{"GET", "/diff/a/b", "", false},
		{"GET", "/trend/a?from=-1h", "", false},
		{"GET", "/graph/a.png?from=-1h", "", false},
		{"GET", "/render?target=a&from=-1h&format=json", "", false},
		{"POST", "/render", "target=a&from=-1h&format=json", false},
		{"GET", "/metrics/find?query=*", "", false},
		{"POST", "/metrics/find", "query=*", false},
		{"GET", "/metrics/expand?query=*", "", false},
		{"GET", "/metrics/index.json", "", false},
		{"GET", "/version", "", false},
		{"GET", "/functions", "", false},
		{"GET", "/tags", "", false},
		{"GET", "/status", "", false},
		{"GET", "/metrics", "", false},
		{"GET", "/", "", false},
		{"GET", "/realtime/a", "", false},
		{"GET", "/realtime/view/v1", "", false},
		{"GET", "/trend/view/", "", false},
		{"GET", "/setting/view", "", false},
		{"GET", "/api/views", "", false},
		{"GET", "/api/views/v1", "", false},
		{"GET", "/replay", "", false},
		{"GET", "/ui/app.js", "", false},
		{"POST", "/push", `{"a":1}`, true},
		{"PUT", "/push", `{"a":1}`, true},
		{"POST", "/push/seq?source=s&first=1&last=1", `{"a":1}`, true},
		{"POST", "/api/views", `{"name":"v2","keys":["a"]}`, true},
		{"PUT", "/api/views/v1", `{"keys":["a"]}`, true},
		{"DELETE", "/api/views/v1", "", true},
		{"POST", "/replay", `{"paths":["/etc/passwd"]}`, true},
	}
}

// TestAuth tries every route of a daemon with tokens, and of a relay, with
// no token, a wrong token, and a token lacking the scope; and the sockets.
func TestAuth(t *testing.T) {
	tcp, udp := testenv.FreePort(t), testenv.FreePort(t)
	d := startDaemon(t, authConfig+fmt.Sprintf(`listeners:
  - {proto: tcp, listen: %q, format: json}
  - {proto: udp, listen: %q, format: json}
`, tcp, udp), nil)
	base := d.URL()
	refused, tried := 0, 0
	check := func(target string, r route, who, token string, want func(int) bool, wantText string) {
		t.Helper()
		path := r.path
		hdr := []string{"Content-Type", "application/json"}
		if strings.Contains(path, "%s") {
			path = fmt.Sprintf(path, token)
		} else if token != "" {
			hdr = append(hdr, "Authorization", "Bearer "+token)
		}
		if r.body != "" && !strings.HasPrefix(r.body, "{") {
			hdr[1] = "application/x-www-form-urlencoded"
		}
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		code, b, _ := do(t, r.method, target+path, body, hdr...)
		tried++
		if code == 401 || code == 403 {
			refused++
		}
		if !want(code) || (code == 401 || code == 403) && jsonError(b) == "" {
			t.Errorf("%s %s with %s: got %d %s, want %s", r.method, path, who, code, trunc(string(b), 160), wantText)
		}
	}
	is := func(c int) func(int) bool { return func(got int) bool { return got == c } }
	allowed := func(got int) bool { return got != 401 && got != 403 && got != 0 && got < 500 }
	// a view to read and change
	code, b, _ := do(t, "POST", base+"/api/views", strings.NewReader(`{"name":"v1","keys":["a"]}`), "Authorization", "Bearer rw-secret", "Content-Type", "application/json")
	if code >= 300 {
		t.Fatalf("create view: %d %s", code, b)
	}
	open := 0
	for _, r := range authRoutes() {
		if r.open() {
			check(base, r, "no token", "", is(200), "200 (open page)")
			open++
			continue
		}
		check(base, r, "no token", "", is(401), "401")
		check(base, r, "a wrong token", "wrong", is(401), "401")
		if r.write {
			check(base, r, "a read-only token", "read-secret", is(403), "403")
		} else {
			check(base, r, "a write-only token", "write-secret", is(403), "403")
			check(base, r, "a read token", "read-secret", allowed, "served")
		}
	}
	// Sockets: loopback peers are trusted (docs/api.md, "Auth"); the
	// daemon listens on 127.0.0.1 unless told otherwise.
	c, err := net.Dial("tcp", tcp)
	must(t, err)
	fmt.Fprintln(c, `{"sock":{"tcp":1}}`)
	c.Close()
	u, err := net.Dial("udp", udp)
	must(t, err)
	fmt.Fprint(u, `{"sock":{"udp":1}}`)
	u.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (getNumber(t, base, "sock,tcp", "Authorization", "Bearer read-secret") != 1 || getNumber(t, base, "sock,udp", "Authorization", "Bearer read-secret") != 1) {
		time.Sleep(50 * time.Millisecond)
	}
	if getNumber(t, base, "sock,tcp", "Authorization", "Bearer read-secret") != 1 || getNumber(t, base, "sock,udp", "Authorization", "Bearer read-secret") != 1 {
		t.Errorf("loopback socket pushes did not arrive")
	}
	// The replay POST with a read token must not have read the file.
	if strings.Contains(fmt.Sprint(status(t, base, "Authorization", "Bearer read-secret")), "root:") {
		t.Errorf("/status shows /etc/passwd")
	}

	// Relay input: its /push, /get, /pull, /status, /metrics behind the same tokens.
	rdir := t.TempDir()
	rconf := filepath.Join(rdir, "relay.conf")
	must(t, os.WriteFile(rconf, []byte(authConfig+fmt.Sprintf("upstreams:\n  - {url: %q, token: rw-secret}\nmode: replicate\n", base)), 0o644))
	relay := testenv.StartCanopyd(t, testenv.BuildCanopyd(t), "--relay", "-config", rconf, "-data", filepath.Join(rdir, "data"), "-pipes.builtin=false")
	relayRoutes := []route{
		{"GET", "/get/a", "", false},
		{"GET", "/pull/?key=a&since=0&timeout=0.1", "", false},
		{"GET", "/status", "", false},
		{"GET", "/metrics", "", false},
		{"POST", "/push", `{"a":1}`, true},
		{"PUT", "/push", `{"a":1}`, true},
	}
	for _, r := range relayRoutes {
		check(relay.URL(), r, "no token (relay)", "", is(401), "401")
		check(relay.URL(), r, "a wrong token (relay)", "wrong", is(401), "401")
		if r.write {
			check(relay.URL(), r, "a read-only token (relay)", "read-secret", is(403), "403")
		} else {
			check(relay.URL(), r, "a write-only token (relay)", "write-secret", is(403), "403")
		}
	}
	report(t, "%d HTTP routes + %d relay routes × {none, wrong, lacking scope}: %d of %d tries refused (401/403 JSON), %d open by design (UI pages and scripts, no data); read token served on every read route (POST /render, /metrics/find included); loopback TCP/UDP sockets trusted as documented", len(authRoutes()), len(relayRoutes), refused, tried, open)
}
