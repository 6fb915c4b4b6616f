package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

func newServer(t *testing.T, opt Options) (*Server, *httptest.Server) {
	t.Helper()
	if opt.Tree == nil {
		opt.Tree = tree.New()
	}
	s := New(opt)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	return s, hs
}

type reply struct {
	code   int
	body   string
	header http.Header
}

func do(t *testing.T, method, u, ctype, body string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, string(b), res.Header}
}

func TestPushForms(t *testing.T) {
	var gotLines []string
	fake := func(lines []string) (push.AccessLogResult, error) {
		gotLines = append(gotLines, lines...)
		return push.AccessLogResult{Lines: len(lines), Bad: 1, Numbers: 2 * (len(lines) - 1), Errors: []string{"line 2: bad"}}, nil
	}
	s, hs := newServer(t, Options{AccessLog: fake})
	u := hs.URL + "/push"
	form := url.Values{"json": {`{"br": {"ie": {"7": 8}}, "defaultaction": "add"}`}}
	tests := []struct {
		name, method, ctype, body string
		code                      int
		want                      string
	}{
		{"form json", "POST", "application/x-www-form-urlencoded", form.Encode(), 200, `"numbers":1`},
		{"raw json", "POST", "application/json", `{"br": {"ie": {"7": 2}}}`, 200, `"numbers":1`},
		{"put json", "PUT", "", `[{"br": {"ie": {"6": 1}}}, {"br": {"ie": {"6": 1}}}]`, 200, `"numbers":2`},
		{"text lines", "POST", "text/plain", "l1\nl2\n\nl3\n", 200, `"lines":3,"bad_lines":1`},
		{"form accesslog", "POST", "application/x-www-form-urlencoded", url.Values{"accesslog": {"a\nb"}}.Encode(), 200, `"errors":["line 2: bad"]`},
		{"bad json", "POST", "application/json", `{"br": {"ie": `, 400, `"error"`},
		{"empty", "POST", "application/json", "  ", 400, `push json is empty`},
		{"form without fields", "POST", "application/x-www-form-urlencoded", "x=1", 400, `neither`},
		{"marker over number", "POST", "application/json", `{"br": {"ie": {"7": "oops"}}}`, 400, `br,ie,7`},
	}
	for _, tt := range tests {
		r := do(t, tt.method, u, tt.ctype, tt.body)
		if r.code != tt.code || !strings.Contains(r.body, tt.want) {
			t.Errorf("%s: got %d %s, want %d with %s", tt.name, r.code, r.body, tt.code, tt.want)
		}
	}
	if got := s.opt.Tree.Get(mustPattern(t, "br,ie,7")); len(got) != 1 || got[0].Value != 10 {
		t.Errorf("br,ie,7 = %v, want 10", got)
	}
	if strings.Join(gotLines, "|") != "l1|l2|l3|a|b" {
		t.Errorf("pipes got %q", gotLines)
	}

	// multipart with a file upload (curl -F json=@file)
	var buf strings.Builder
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("json", "push.json")
	fmt.Fprint(fw, `{"up": {"x": 1}}`)
	mw.Close()
	if r := do(t, "POST", u, mw.FormDataContentType(), buf.String()); r.code != 200 {
		t.Errorf("multipart: got %d %s", r.code, r.body)
	}
}

func TestPushAccessLogWithoutPipes(t *testing.T) {
	_, hs := newServer(t, Options{})
	r := do(t, "POST", hs.URL+"/push", "text/plain", "a line\n")
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "pipes engine") {
		t.Errorf("got %d %s", r.code, r.body)
	}
}

func mustPattern(t *testing.T, k string) *key.Pattern {
	t.Helper()
	p, err := key.Parse(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLimits(t *testing.T) {
	lim := config.Limits{MaxBodyBytes: 1000, MaxLineBytes: 10, MaxJSONDepth: 3, MaxPushNodes: 4, MaxLongPolls: 1}
	fake := func(lines []string) (push.AccessLogResult, error) {
		return push.AccessLogResult{Lines: len(lines)}, nil
	}
	srv, hs := newServer(t, Options{Limits: lim, AccessLog: fake})
	u := hs.URL + "/push"
	tests := []struct {
		name, ctype, body string
		code              int
		want              string
	}{
		{"body", "application/json", `{"a": "` + strings.Repeat("x", 2000) + `"}`, 413, "limits.max_body_bytes"},
		{"line", "text/plain", "short\n" + strings.Repeat("x", 11), 413, "line 2 is 11 bytes"},
		{"depth", "application/json", `{"a": {"b": {"c": {"d": 1}}}}`, 400, "limits.max_json_depth"},
		{"nodes", "application/json", `{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}`, 413, "limits.max_push_nodes"},
		{"within", "application/json", `{"a": {"b": {"c": 1}}}`, 200, "numbers"},
		{"colon in string", "application/json", `{"a": {"b:c:d:e:f": 1}}`, 200, "numbers"},
	}
	for _, tt := range tests {
		r := do(t, "POST", u, tt.ctype, tt.body)
		if r.code != tt.code || !strings.Contains(r.body, tt.want) {
			t.Errorf("%s: got %d %s, want %d with %q", tt.name, r.code, r.body, tt.code, tt.want)
		}
	}
	// Chunked bodies have no Content-Length: the reader limit answers.
	req, _ := http.NewRequest("POST", u, io.MultiReader(strings.NewReader(`{"a": "`), strings.NewReader(strings.Repeat("y", 5000)+`"}`)))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("chunked body: got %d, want 413", res.StatusCode)
	}

	// long polls: one slot; the second waiter is refused.
	done := make(chan reply)
	go func() { done <- do(t, "GET", hs.URL+"/pull/?key=a&timeout=30", "", "") }()
	for deadline := time.Now().Add(5 * time.Second); srv.polls.Load() < 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	r := do(t, "GET", hs.URL+"/pull/?key=a&timeout=1", "", "")
	if r.code != 429 || !strings.Contains(r.body, "limits.max_long_polls") || r.header.Get("Retry-After") == "" {
		t.Errorf("second long poll: got %d %s", r.code, r.body)
	}
	srv.Close() // ends the waiting poll
	<-done
}

func TestAuth(t *testing.T) {
	tokens := []config.Token{
		{Name: "reader", Token: "r-secret", Scopes: []string{"read"}},
		{Name: "writer", Token: "w-secret", Scopes: []string{"write"}},
		{Name: "both", Token: "rw-secret", Scopes: []string{"read", "write"}},
	}
	_, hs := newServer(t, Options{Tokens: tokens})
	push := `{"a": {"b": 1}}`
	tests := []struct {
		name, method, path, token string
		code                      int
	}{
		{"write without token", "POST", "/push", "", 401},
		{"write with read token", "POST", "/push", "r-secret", 403},
		{"write with wrong token", "POST", "/push", "nope", 401},
		{"write with write token", "POST", "/push", "w-secret", 200},
		{"write with read+write token", "PUT", "/push", "rw-secret", 200},
		{"read without token", "GET", "/get/a", "", 401},
		{"read with write token", "GET", "/get/a", "w-secret", 403},
		{"read with wrong token", "GET", "/get/a", "nope", 401},
		{"read with read token", "GET", "/get/a", "r-secret", 200},
		{"metrics need read", "GET", "/metrics", "", 401},
		{"metrics with read token", "GET", "/metrics", "r-secret", 200},
		{"pull with token in query", "GET", "/pull/?key=a&since=0&access_token=r-secret", "", 200},
		{"diff with read token", "GET", "/diff/a/a", "r-secret", 200},
		{"report without token", "GET", "/report", "", 401},
		{"report with write token", "GET", "/report", "w-secret", 403},
		{"report with read token", "GET", "/report?top=3", "r-secret", 200},
	}
	for _, tt := range tests {
		var hdr []string
		if tt.token != "" {
			hdr = []string{"Authorization", "Bearer " + tt.token}
		}
		r := do(t, tt.method, hs.URL+tt.path, "application/json", push, hdr...)
		if r.code != tt.code {
			t.Errorf("%s: got %d %s, want %d", tt.name, r.code, r.body, tt.code)
		}
		if r.code == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
	}
	// Without tokens configured, everything is open (loopback default).
	_, open := newServer(t, Options{})
	if r := do(t, "POST", open.URL+"/push", "application/json", push); r.code != 200 {
		t.Errorf("open server: got %d %s", r.code, r.body)
	}
}

func TestPull(t *testing.T) {
	s, hs := newServer(t, Options{})
	tr := s.opt.Tree
	if _, err := push.Merge(tr, []byte(`{"br": {"ie": {"7": 1}}, "os": {"linux": 1}}`)); err != nil {
		t.Fatal(err)
	}
	v0 := tr.Version()
	// since=0: everything under the key, at once.
	r := do(t, "GET", hs.URL+"/pull/?key=br&since=0", "", "")
	if r.code != 200 || r.body != `[{"br,ie,7":1}]` || r.header.Get("X-Canopy-Version") != strconv.FormatUint(v0, 10) {
		t.Fatalf("since=0: got %d %s %v", r.code, r.body, r.header)
	}
	// A timeout with no change answers [] and the same version.
	start := time.Now()
	r = do(t, "GET", hs.URL+"/pull/br?since="+strconv.FormatUint(v0, 10)+"&timeout=0.2", "", "")
	if r.code != 200 || r.body != "[]" || time.Since(start) < 150*time.Millisecond {
		t.Errorf("timeout: got %d %s after %v", r.code, r.body, time.Since(start))
	}
	// A change elsewhere does not answer; a change under the key does.
	done := make(chan reply)
	go func() { done <- do(t, "GET", hs.URL+"/pull/?key=br&since="+strconv.FormatUint(v0, 10), "", "") }()
	time.Sleep(50 * time.Millisecond)
	push.Merge(tr, []byte(`{"os": {"linux": 1}}`))
	time.Sleep(50 * time.Millisecond)
	push.Merge(tr, []byte(`{"br": {"ie": {"8": 5}}}`))
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not wake")
	}
	if r.body != `[{"br,ie,8":5}]` || r.header.Get("X-Canopy-Version") != strconv.FormatUint(tr.Version(), 10) {
		t.Errorf("wake: got %s version %s (tree %d)", r.body, r.header.Get("X-Canopy-Version"), tr.Version())
	}
	// Bad arguments.
	for _, q := range []string{"since=x", "timeout=soon", "key=a,%5B"} {
		if r := do(t, "GET", hs.URL+"/pull/?"+q, "", ""); r.code != 400 {
			t.Errorf("%s: got %d %s, want 400", q, r.code, r.body)
		}
	}
}

// A client that passes back each version sees every change, with many
// writers and readers at once.
func TestPullNeverMisses(t *testing.T) {
	s, hs := newServer(t, Options{})
	tr := s.opt.Tree
	const n = 200
	var wg sync.WaitGroup
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := map[string]bool{}
			since := "0"
			for len(seen) < n {
				r := do(t, "GET", hs.URL+"/pull/?key=k&timeout=5&since="+since, "", "")
				if r.code != 200 {
					t.Errorf("got %d %s", r.code, r.body)
					return
				}
				var list []map[string]float64
				json.Unmarshal([]byte(r.body), &list)
				for _, e := range list {
					for k := range e {
						seen[k] = true
					}
				}
				since = r.header.Get("X-Canopy-Version")
			}
		}()
	}
	for i := 0; i < n; i++ {
		push.Merge(tr, []byte(fmt.Sprintf(`{"k": {"n%d": 1}}`, i)))
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
}

func TestPullSSE(t *testing.T) {
	s, hs := newServer(t, Options{})
	tr := s.opt.Tree
	push.Merge(tr, []byte(`{"cpu": {"idle": 32}}`))
	req, _ := http.NewRequest("GET", hs.URL+"/pull/cpu?timeout=5", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	br := bufio.NewReader(res.Body)
	readEvent := func() (id, data string) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && data != "":
				return id, data
			}
		}
	}
	if id, data := readEvent(); data != `[{"cpu,idle":32}]` || id != strconv.FormatUint(tr.Version(), 10) {
		t.Errorf("first event: id %s data %s", id, data)
	}
	push.Merge(tr, []byte(`{"cpu": {"user": 900}}`))
	if _, data := readEvent(); data != `[{"cpu,user":900}]` {
		t.Errorf("second event: %s", data)
	}
}

func TestDiff(t *testing.T) {
	s, hs := newServer(t, Options{})
	push.Merge(s.opt.Tree, []byte(`{"cpu": {"web1": {"idle": 10, "user": 5}, "web2": {"idle": 7, "sys": 1}}, "url": {"a/b": {"x": 1}, "c": {"x": 3}}}`))
	r := do(t, "GET", hs.URL+"/diff/cpu,web1/cpu,web2", "", "")
	want := `[{"key":"idle","a":10,"b":7,"diff":3},{"key":"sys","a":null,"b":1,"diff":-1},{"key":"user","a":5,"b":null,"diff":5}]`
	if r.code != 200 || r.body != want {
		t.Errorf("got %d %s\nwant %s", r.code, r.body, want)
	}
	r = do(t, "GET", hs.URL+"/diff/url,a%2Fb/url,c", "", "")
	if r.body != `[{"key":"x","a":1,"b":3,"diff":-2}]` {
		t.Errorf("escaped slash: got %d %s", r.code, r.body)
	}
	r = do(t, "GET", hs.URL+"/diff?a=url,a%2Fb&b=url,c", "", "")
	if r.body != `[{"key":"x","a":1,"b":3,"diff":-2}]` {
		t.Errorf("query form: got %d %s", r.code, r.body)
	}
	for _, p := range []string{"/diff/only", "/diff/a/b/c", "/diff/**/cpu"} {
		if r := do(t, "GET", hs.URL+p, "", ""); r.code != 400 {
			t.Errorf("%s: got %d %s, want 400", p, r.code, r.body)
		}
	}
}

func TestMetrics(t *testing.T) {
	s, hs := newServer(t, Options{})
	push.Merge(s.opt.Tree, []byte(`{"a": {"b": 1}}`))
	do(t, "POST", hs.URL+"/push", "application/json", `{"a": {"b": 1}}`)
	do(t, "POST", hs.URL+"/push", "application/json", `{`)
	r := do(t, "GET", hs.URL+"/metrics", "", "")
	for _, want := range []string{
		"canopy_tree_nodes 2",
		`canopy_lines_in_total{format="json",source="http"} 2`,
		`canopy_bad_lines_total{format="json",source="http"} 1`,
		"canopy_pull_clients 0",
		`canopy_http_requests_total{code="200",route="/push"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func FuzzPushHTTP(f *testing.F) {
	for _, s := range []string{`{"br": {"ie": {"7": 8}}, "defaultaction": "add"}`, `[{"a": 1}, {"b": {"": 2, "c": "m"}}]`, `{"a": {"b": {"c": {"d": {"e": 1}}}}}`, `{"a": "\"}{"}`, `[[[[[`, `{"a": 1e999}`} {
		f.Add(s, "application/json")
		f.Add(s, "text/plain")
	}
	s := New(Options{Tree: tree.New(), Limits: config.Limits{MaxJSONDepth: 8, MaxPushNodes: 50, MaxBodyBytes: 4096},
		AccessLog: func(lines []string) (push.AccessLogResult, error) {
			return push.AccessLogResult{Lines: len(lines)}, nil
		}})
	f.Fuzz(func(t *testing.T, body, ctype string) {
		req := httptest.NewRequest("POST", "/push", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		switch {
		case w.Code == 200:
		case w.Code >= 400 && w.Code < 500 && strings.Contains(w.Body.String(), `"error"`):
		default:
			t.Fatalf("%q (%s): got %d %s", body, ctype, w.Code, w.Body.String())
		}
	})
}

// TestGetKeyParam reads keys holding a slash, %, a space and non-ASCII
// both ways: /get?key=K (what the UI sends) and the path form.
func TestGetKeyParam(t *testing.T) {
	_, hs := newServer(t, Options{})
	do(t, "POST", hs.URL+"/push", "application/json", `{"url": {"/a/b": 1, "50%": 2, "a b": 3, "日本": 4}, "defaultaction": "add"}`)
	tests := []struct{ url, want string }{
		{"/get?key=" + url.QueryEscape("url,/a/b"), `[{"url,/a/b":1}]`},
		{"/get?key=" + url.QueryEscape("url,50%25"), `[{"url,50%25":2}]`},
		{"/get?key=" + url.QueryEscape("url,a b"), `[{"url,a b":3}]`},
		{"/get?key=" + url.QueryEscape("url,日本"), `[{"url,日本":4}]`},
		{"/get/url,/a/b", `[{"url,/a/b":1}]`},
		{"/get/url,a%20b", `[{"url,a b":3}]`},
	}
	for _, tt := range tests {
		if r := do(t, "GET", hs.URL+tt.url, "", ""); r.code != 200 || r.body != tt.want {
			t.Errorf("GET %s = %d %s, want %s", tt.url, r.code, r.body, tt.want)
		}
	}
}
