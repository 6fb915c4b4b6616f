package chaos

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rssCapMiB is the documented cap (docs/api.md, "Limits") on the daemon's
// resident memory while it refuses hostile requests with default limits.
const rssCapMiB = 512

// repeatReader streams n bytes of s repeated without holding them.
type repeatReader struct {
	s    []byte
	n, i int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.i >= r.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.i < r.n {
		p[k] = r.s[r.i%int64(len(r.s))]
		k++
		r.i++
	}
	return k, nil
}

func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	b.WriteString("}")
	return b.String()
}

// TestHostileHTTP sends each hostile request to a live daemon: each must get
// a 4xx with a JSON error, leak no file, and leave the daemon serving with
// its memory under rssCapMiB.
func TestHostileHTTP(t *testing.T) {
	d := startDaemon(t, "", nil)
	base := d.URL()
	code, b, _ := do(t, "POST", base+"/push", strings.NewReader(`{"ok":{"a":1}}`))
	if code != 200 {
		t.Fatalf("seed push: %d %s", code, b)
	}
	targets := make([]string, 1000)
	for i := range targets {
		targets[i] = fmt.Sprintf("target=ok.a%d", i)
	}
	// want says what a refusal looks like: refused (a 4xx with a JSON
	// error, the API's convention), graphite (a 4xx with graphite-web
	// 1.1's text answer, which Grafana shows as is) or harmless (served:
	// a key is never a file, and the UI pages are one embedded shell
	// whatever the name; only no leak and a live daemon are checked).
	type hostile struct {
		name   string
		method string
		path   string
		body   func() io.Reader
		ctype  string
		want   string
	}
	str := func(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }
	cases := []hostile{
		{"100 MB body", "POST", "/push", func() io.Reader { return &repeatReader{s: []byte(`{"a":1}`), n: 100 << 20} }, "application/json", "refused"},
		{"100k-deep nesting", "POST", "/push", str(nested(100_000)), "application/json", "refused"},
		{"1M keys in one push", "POST", "/push", str(manyKeys(1_000_000)), "application/json", "refused"},
		{"200k keys (under body limit)", "POST", "/push", str(manyKeys(200_000)), "application/json", "refused"},
		{"invalid UTF-8 key", "POST", "/push", str("{\"\xff\xfe\": 1}"), "application/json", "refused"},
		{"invalid UTF-8 marker", "POST", "/push", str("{\"a\": \"\xff\xfe\"}"), "application/json", "refused"},
		{"NaN", "POST", "/push", str(`{"a": NaN}`), "application/json", "refused"},
		{"Infinity", "POST", "/push", str(`{"a": Infinity}`), "application/json", "refused"},
		{"huge number", "POST", "/push", str(`{"a": 1e999}`), "application/json", "refused"},
		{"non-JSON", "POST", "/push", str(`this is not json`), "application/json", "refused"},
		{"10k-char key", "POST", "/push", str(`{"` + strings.Repeat("k", 10_000) + `": 1}`), "application/json", "refused"},
		{"** repeated /get", "GET", "/get/" + strings.Repeat("**,", 2000) + "x", nil, "", "refused"},
		{"** repeated /pull", "GET", "/pull/?timeout=1&key=" + strings.Repeat("**,", 2000) + "x", nil, "", "refused"},
		{"graph 100000x100000", "GET", "/graph/ok,a.png?width=100000&height=100000", nil, "", "refused"},
		{"garbage from /trend", "GET", "/trend/ok,a?from=garbage&until=%00%ff", nil, "", "refused"},
		{"garbage from /render", "GET", "/render?target=ok.a&from=garbage&until=xx&format=json", nil, "", "graphite"},
		{"garbage from /graph", "GET", "/graph/ok,a.png?from=garbage", nil, "", "refused"},
		{"1000 targets /render", "GET", "/render?format=json&" + strings.Join(targets, "&"), nil, "", "graphite-ok"},
		{"traversal /get ../", "GET", "/get/../../../etc/passwd", nil, "", "harmless"},
		{"traversal /graph %2e%2e", "GET", "/graph/%2e%2e%2f%2e%2e%2fetc%2fpasswd.png", nil, "", "harmless"},
		{"traversal /api/views %2e%2e", "GET", "/api/views/%2e%2e", nil, "", "refused"},
		{"traversal DELETE /api/views ..", "DELETE", "/api/views/..", nil, "", "refused"},
		{"traversal POST /api/views name", "POST", "/api/views", str(`{"name":"../../evil","keys":["ok,a"]}`), "application/json", "refused"},
		{"traversal /api/views ../", "GET", "/api/views/..%2f..%2f..%2fetc%2fpasswd", nil, "", "refused"},
		{"traversal PUT /api/views", "PUT", "/api/views/..%2f..%2fevil", str(`{"keys":["ok,a"]}`), "application/json", "refused"},
		{"traversal /ui", "GET", "/ui/..%2f..%2f..%2fetc%2fpasswd", nil, "", "refused"},
		{"traversal /trend/view", "GET", "/trend/view/..%2f..%2f..%2fetc%2fpasswd", nil, "", "harmless"},
		{"traversal /realtime/view", "GET", "/realtime/view/%2e%2e%2f%2e%2e%2fetc%2fpasswd", nil, "", "harmless"},
		{"traversal /graph view", "GET", "/graph/view/..%2f..%2fetc%2fpasswd.png", nil, "", "harmless"},
	}
	peak, refused := rssMiB(t, d.PID()), 0
	worst := time.Duration(0)
	for _, c := range cases {
		var body io.Reader
		if c.body != nil {
			body = c.body()
		}
		start := time.Now()
		code, b, ctype := do(t, c.method, base+c.path, body, "Content-Type", c.ctype)
		took := time.Since(start)
		worst = max(worst, took)
		peak = max(peak, rssMiB(t, d.PID()))
		msg := jsonError(b)
		t.Logf("%-30s %d %.3fs %s", c.name, code, took.Seconds(), trunc(string(b), 160))
		switch c.want {
		case "refused":
			if code < 400 || code >= 500 || msg == "" || !strings.Contains(ctype, "json") {
				t.Errorf("%s: got %d %q (%s), want a 4xx JSON error", c.name, code, trunc(string(b), 200), ctype)
			}
			refused++
		case "graphite":
			if code != 400 || !bytes.HasPrefix(b, []byte("Invalid parameters (")) {
				t.Errorf("%s: got %d %q, want graphite-web's 400 Invalid parameters", c.name, code, trunc(string(b), 200))
			}
			refused++
		default: // harmless, graphite-ok: answered, within the client's timeout
			if code != 200 {
				t.Errorf("%s: got %d %q, want it served", c.name, code, trunc(string(b), 200))
			}
		}
		if bytes.Contains(b, []byte("root:")) {
			t.Errorf("%s: the answer leaks /etc/passwd", c.name)
		}
		if n := getNumber(t, base, "ok,a"); n != 1 {
			t.Fatalf("after %s: ok,a = %v, want 1: the daemon stopped serving", c.name, n)
		}
	}
	if peak > rssCapMiB {
		t.Errorf("RSS peaked at %.0f MiB, over the %d MiB cap", peak, rssCapMiB)
	}
	report(t, "%d hostile requests: %d refused 4xx with a clear error, %d harmless served (keys, UI shell, 1000-target render); 0 leaks; slowest %.2fs; RSS peak %.0f MiB (cap %d)", len(cases), refused, len(cases)-refused, worst.Seconds(), peak, rssCapMiB)
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

var _ = http.MethodGet
