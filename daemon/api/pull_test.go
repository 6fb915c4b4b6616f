package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/push"
)

// TestPullRoutes: /pull answers the same through the plain handler that
// serves it first and through gin, which gets what the plain one hands
// over (errors, other methods): codes, error bodies, the request counter.
func TestPullRoutes(t *testing.T) {
	s, hs := newServer(t, Options{})
	push.Merge(s.opt.Tree, []byte(`{"a": {"b": 1}}`))
	tests := []struct {
		name, method, path, accept string
		code                       int
		body                       string // substring of the answer
	}{
		{"key in query", "GET", "/pull?key=a&since=0", "", 200, `[{"a,b":1}]`},
		{"key in path", "GET", "/pull/a?since=0", "", 200, `[{"a,b":1}]`},
		{"double slash", "GET", "/pull//a?since=0&timeout=0", "", 200, `[]`},
		{"trailing slash", "GET", "/pull/?key=a&since=0", "", 200, `[{"a,b":1}]`},
		{"bad since", "GET", "/pull/a?since=x", "", 400, `{"error":"since=\"x\" is not a version number"}`},
		{"bad since, browser", "GET", "/pull/a?since=x", "text/html", 400, `<p class="msg" role="alert">since=&#34;x&#34; is not a version number</p>`},
		{"bad timeout", "GET", "/pull?key=a&timeout=soon", "", 400, `timeout=\"soon\"`},
		{"bad key", "GET", "/pull/?key=a,%5B", "", 400, `"error"`},
		{"not /pull", "GET", "/pullx", "", 404, `no route GET /pullx`},
		{"post", "POST", "/pull/a", "", 404, `no route POST /pull/a`},
	}
	for _, tt := range tests {
		var hdr []string
		if tt.accept != "" {
			hdr = []string{"Accept", tt.accept}
		}
		r := do(t, tt.method, hs.URL+tt.path, "", "", hdr...)
		if r.code != tt.code || !strings.Contains(r.body, tt.body) {
			t.Errorf("%s: got %d %s, want %d %s", tt.name, r.code, r.body, tt.code, tt.body)
		}
	}
	r := do(t, "GET", hs.URL+"/metrics", "", "")
	for _, want := range []string{
		`canopy_http_requests_total{code="200",route="/pull"} 1`,
		`canopy_http_requests_total{code="200",route="/pull/*key"} 3`,
		`canopy_http_requests_total{code="400",route="/pull/*key"} 3`,
		`canopy_http_requests_total{code="400",route="/pull"} 1`,
		`canopy_http_requests_total{code="404",route="unmatched"} 2`,
	} {
		if !strings.Contains(r.body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestPullClose: Close answers a waiting long-poll ([] and the version)
// and ends an event stream, at once.
func TestPullClose(t *testing.T) {
	s, hs := newServer(t, Options{})
	push.Merge(s.opt.Tree, []byte(`{"a": {"b": 1}}`))
	polled := make(chan reply, 1)
	go func() { polled <- do(t, "GET", hs.URL+"/pull/a?timeout=60", "", "") }()
	req, _ := http.NewRequest("GET", hs.URL+"/pull/a?since=0", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// Both are waiting once the stream's first event is read and the
	// poll holds its slot.
	br := bufio.NewReader(res.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "id: ") {
		t.Fatalf("first event: %q %v", line, err)
	}
	for deadline := time.Now().Add(5 * time.Second); s.polls.Load() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients waiting, want 2", s.polls.Load())
		}
	}
	s.Close()
	select {
	case r := <-polled:
		if r.code != 200 || r.body != "[]" || r.header.Get("X-Canopy-Version") == "" {
			t.Errorf("long-poll at close: got %d %s %v", r.code, r.body, r.header)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll still waiting after Close")
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := br.ReadString('\n'); err != nil {
				ended <- err
				return
			}
		}
	}()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("event stream still open after Close")
	}
	// A client arriving after Close is not kept waiting either.
	if r := do(t, "GET", hs.URL+"/pull/a?timeout=60", "", ""); r.code != 200 || r.body != "[]" {
		t.Errorf("long-poll after close: got %d %s", r.code, r.body)
	}
}

// TestPullSSEStuckClient: an event-stream client that stops reading is
// let go once a write has blocked for the write timeout (its slot freed),
// and a stream that is read is not.
func TestPullSSEStuckClient(t *testing.T) {
	s, hs := newServer(t, Options{})
	s.sseWriteTimeout = 300 * time.Millisecond
	stuck, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(stuck, "GET /pull/big?since=0 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	// A reading client on the same key, past several write timeouts.
	req, _ := http.NewRequest("GET", hs.URL+"/pull/big?since=0&timeout=60", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	read := make(chan int, 1)
	go func() {
		n, _ := io.Copy(io.Discard, res.Body)
		read <- int(n)
	}()
	name := strings.Repeat("n", 200)
	start := time.Now()
	for i := 0; s.polls.Load() > 1 || i == 0; i++ {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("stuck client still held after 10 s (%d streams)", s.polls.Load())
		}
		var b strings.Builder
		b.WriteString(`{"big": {`)
		for j := 0; j < 200; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"%s%d": %d`, name, j, i)
		}
		b.WriteString("}}")
		push.Merge(s.opt.Tree, []byte(b.String()))
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case n := <-read:
		t.Errorf("the reading stream ended after %d bytes", n)
	default:
	}
}
