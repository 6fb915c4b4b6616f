package push

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type recorder struct {
	mu    sync.Mutex
	jsons []string
	logs  []string
	down  atomic.Bool
	token string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if req.URL.Path != "/push" || r.token != "" && req.Header.Get("Authorization") != "Bearer "+r.token {
		http.Error(w, "no", http.StatusUnauthorized)
		return
	}
	req.ParseForm()
	if j := req.PostForm.Get("json"); j != "" && !strings.HasPrefix(j, "[{") {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.jsons = append(r.jsons, req.PostForm["json"]...)
	r.logs = append(r.logs, req.PostForm["accesslog"]...)
	r.mu.Unlock()
	w.Write([]byte(`{}`))
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.jsons...)
}

func batch(i int) Batch {
	return Batch{JSON: []json.RawMessage{json.RawMessage(`{"t":{"h":{"n":` + itoa(i) + `}},"defaultaction":"add"}`)}}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestOrderAcrossOutageAndRestart(t *testing.T) {
	rec := &recorder{token: "s3"}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	dir := t.TempDir()
	opt := Options{Server: srv.URL, Token: "s3", Dir: dir, Retry: 10 * time.Millisecond, MaxRetry: 20 * time.Millisecond}
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	c.Enqueue(batch(1))
	waitFor(t, func() bool { return len(rec.got()) == 1 })
	rec.down.Store(true)
	for i := 2; i <= 5; i++ {
		c.Enqueue(batch(i))
	}
	time.Sleep(50 * time.Millisecond)
	// The agent restarts during the outage: the buffer survives.
	cancel()
	<-done
	if c.Pending() != 4 {
		t.Fatalf("pending = %d, want 4", c.Pending())
	}
	c2, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	c2.Enqueue(batch(6))
	rec.down.Store(false)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go c2.Run(ctx)
	waitFor(t, func() bool { return len(rec.got()) == 6 })
	for i, j := range rec.got() {
		if !strings.Contains(j, `"n":`+itoa(i+1)+`}`) {
			t.Errorf("push %d = %s, out of order", i, j)
		}
	}
}

func TestBoundedBuffer(t *testing.T) {
	dir := t.TempDir()
	c, err := New(Options{Server: "http://127.0.0.1:1", Dir: dir, MaxBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		c.Enqueue(batch(i))
	}
	st := c.Stats()
	if st.Pending >= 20 || st.Dropped == 0 || c.bytes > 300 {
		t.Errorf("stats = %+v, bytes %d; want the oldest dropped to stay under 300 bytes", st, c.bytes)
	}
}

func TestRejectedBatchIsDropped(t *testing.T) {
	rec := &recorder{token: "needed"}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, _ := New(Options{Server: srv.URL, Dir: t.TempDir()})
	c.Enqueue(Batch{JSON: []json.RawMessage{json.RawMessage(`1`)}})
	c.Enqueue(batch(2))
	// Bad token: 401 keeps the batch for a retry.
	if err := c.Drain(context.Background()); err == nil || c.Pending() != 2 {
		t.Fatalf("drain with a bad token: %v, pending %d", err, c.Pending())
	}
	rec.token = ""
	if err := c.Drain(context.Background()); err != nil || c.Pending() != 0 {
		t.Fatalf("drain: %v, pending %d", err, c.Pending())
	}
	// The 400 batch was dropped, the good one delivered.
	if got := rec.got(); len(got) != 1 || c.Stats().Dropped != 1 {
		t.Errorf("delivered %q, stats %+v", got, c.Stats())
	}
}

func TestAccessLogField(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, _ := New(Options{Server: srv.URL + "/", Dir: t.TempDir()})
	c.Enqueue(Batch{AccessLog: []string{"line one", "line two"}})
	if err := c.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.logs) != 1 || rec.logs[0] != "line one\nline two\n" {
		t.Errorf("accesslog = %q", rec.logs)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTCPJSONLines(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- string(b)
	}()
	c, _ := New(Options{Server: "tcp://" + l.Addr().String(), Token: "tok", Dir: t.TempDir()})
	c.Enqueue(Batch{JSON: []json.RawMessage{json.RawMessage(`{"a": {"h": 1}}`), json.RawMessage(`{"b":2}`)}})
	if err := c.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "auth tok\n{\"a\":{\"h\":1}}\n{\"b\":2}\n" {
		t.Errorf("sent %q", s)
	}
}

// formBody is what url.Values would encode, for a batch as send reads it
// from the buffer (written by Enqueue's json.Marshal).
func TestFormBody(t *testing.T) {
	for _, b := range []Batch{
		{},
		{JSON: []json.RawMessage{json.RawMessage(`{"a":{"h":{"x y":1.5}},"defaultaction":"average"}`)}},
		{JSON: []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"b":"é&=+%~"}`)}},
		{AccessLog: []string{`127.0.0.1 - - [26/Nov/2026:12:00:00 +0000] "GET /?a=b&c HTTP/1.1" 200 612 "-" "bench"`, "two\tlines"}},
		{JSON: []json.RawMessage{json.RawMessage(`{"a":1}`)}, AccessLog: []string{"x"}},
	} {
		data, _ := json.Marshal(b)
		b = Batch{}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		form := url.Values{}
		if len(b.JSON) > 0 {
			list, _ := json.Marshal(b.JSON)
			form.Set("json", string(list))
		}
		if len(b.AccessLog) > 0 {
			form.Set("accesslog", strings.Join(b.AccessLog, "\n")+"\n")
		}
		if got, want := string(formBody(&b)), form.Encode(); got != want {
			t.Errorf("formBody(%+v)\n = %s\nwant %s", b, got, want)
		}
	}
}
