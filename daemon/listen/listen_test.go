package listen

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/auth"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

func start(t *testing.T, tr *tree.Tree, c config.Listener, mod func(*Options)) *Listener {
	t.Helper()
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	opt := Options{Tree: tr, Config: c, Logf: t.Logf}
	if mod != nil {
		mod(&opt)
	}
	l, err := Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// values reads the tree under key as key → value.
func values(t *testing.T, tr *tree.Tree, k string) map[string]float64 {
	t.Helper()
	p, err := key.Parse(k)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, e := range tr.Get(p) {
		out[e.Key] = e.Value
	}
	return out
}

// waitFor polls until the tree holds want at key (merges are asynchronous).
func waitFor(t *testing.T, tr *tree.Tree, key string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var got map[string]float64
	for time.Now().Before(deadline) {
		got = values(t, tr, key)
		if v, ok := got[key]; ok && v == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: got %v (all: %v), want %v", key, got[key], got, want)
}

func sendUDP(t *testing.T, addr net.Addr, payloads ...string) {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range payloads {
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
}

func sendTCP(t *testing.T, addr net.Addr, text string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := bufio.NewReader(c).ReadString('\n')
	return reply
}

func TestStatsDUDP(t *testing.T) {
	tr := tree.New()
	l := start(t, tr, config.Listener{Proto: "udp", Format: "statsd"}, func(o *Options) { o.SetWindow = time.Hour })
	sendUDP(t, l.Addr(),
		"hits:1|c\nhits:2|c|@0.5\npage.views:3|c|#env:prod",
		"temp:20|g\ntemp:+5|g\ntemp:-2|g",
		"req:30|ms\nreq:10|ms",
		"users:alice|s\nusers:bob|s\nusers:alice|s",
		"bad line\nalso:bad|zz",
	)
	waitFor(t, tr, "statsd,counters,hits", 5)
	waitFor(t, tr, "statsd,counters,page,views", 3)
	waitFor(t, tr, "statsd,counters,page,views,env:prod", 3)
	waitFor(t, tr, "statsd,gauges,temp", 23)
	waitFor(t, tr, "statsd,timers,req,le,+Inf", 2)
	l.sh.flushTimers(10 * time.Second)
	waitFor(t, tr, "statsd,timers,req,mean", 20)
	waitFor(t, tr, "statsd,timers,req,le,10", 1)
	waitFor(t, tr, "statsd,timers,req,le,50", 2)
	waitFor(t, tr, "statsd,timers,req,le,+Inf", 2)
	waitFor(t, tr, "statsd,sets,users", 2)
}

func TestStatsDTCPAndGraphite(t *testing.T) {
	tr := tree.New()
	s := start(t, tr, config.Listener{Proto: "tcp", Format: "statsd", Prefix: "app"}, nil)
	sendTCP(t, s.Addr(), "a.b:1|c\na.b:1|c\n")
	waitFor(t, tr, "app,counters,a,b", 2)

	now := time.Now().Unix()
	ts := func(s string) string { return strings.ReplaceAll(s, "NOW", fmt.Sprint(now)) }
	g := start(t, tr, config.Listener{Proto: "tcp", Format: "graphite"}, nil)
	sendTCP(t, g.Addr(), ts("servers.web1.load 0.5 NOW\nservers.web1.load 0.7 NOW\ncpu;host=a 3 NOW\n"))
	waitFor(t, tr, "graphite,servers,web1,load", 0.7)
	waitFor(t, tr, "graphite,cpu,host=a", 3)

	gu := start(t, tr, config.Listener{Proto: "udp", Format: "graphite", Prefix: "carbon", Action: "add"}, nil)
	sendUDP(t, gu.Addr(), ts("x 1 NOW\nx 2 NOW"))
	waitFor(t, tr, "carbon,x", 3)

	// max sees every sample, not only the last of a batch.
	gm := start(t, tr, config.Listener{Proto: "tcp", Format: "graphite", Prefix: "peak", Action: "max"}, nil)
	sendTCP(t, gm.Addr(), ts("x 1 NOW\nx 9 NOW\nx 2 NOW\n"))
	waitFor(t, tr, "peak,x", 9)
}

// fakeBackfill records what a listener writes at past times.
type fakeBackfill struct {
	mu  sync.Mutex
	got map[int64][]tree.Entry
}

func (f *fakeBackfill) WriteAt(ts time.Time, entries []tree.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got[ts.Unix()] = append(f.got[ts.Unix()], entries...)
	return nil
}

// TestGraphiteTimestamps: a line's own time is used. Current lines merge
// into the tree; older ones within max_age go to the trend store at their
// time and leave the tree alone; lines outside the window are refused and
// counted.
func TestGraphiteTimestamps(t *testing.T) {
	tr := tree.New()
	bf := &fakeBackfill{got: map[int64][]tree.Entry{}}
	g := start(t, tr, config.Listener{Proto: "tcp", Format: "graphite", MaxAge: "2h"}, func(o *Options) { o.Backfill = bf })
	now := time.Now().Unix()
	var b strings.Builder
	fmt.Fprintf(&b, "load 5 %d\n", now)                         // current
	fmt.Fprintf(&b, "load 1 %d\nload 2 %d\n", now-600, now-590) // ten minutes ago: backfill
	fmt.Fprintf(&b, "load 9 %d\n", now-3*3600)                  // older than max_age
	fmt.Fprintf(&b, "load 9 %d\n", now+3600)                    // an hour ahead
	fmt.Fprintf(&b, "load 7\n")                                 // no timestamp: now
	sendTCP(t, g.Addr(), b.String())
	waitFor(t, tr, "graphite,load", 7)
	deadline := time.Now().Add(5 * time.Second)
	for g.TimestampRefused() < 2 || g.Stats()["backfilled_lines"] != uint64(2) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %v, want 2 backfilled and 2 refused", g.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	bf.mu.Lock()
	defer bf.mu.Unlock()
	if got := fmt.Sprint(bf.got); got != fmt.Sprintf("map[%d:[{graphite,load 1  false last 0}] %d:[{graphite,load 2  false last 0}]]", now-600, now-590) {
		t.Errorf("backfilled %s", got)
	}
	if _, err := Start(Options{Tree: tr, Config: config.Listener{Proto: "tcp", Listen: "127.0.0.1:0", Format: "graphite", MaxAge: "soon"}}); err == nil {
		t.Errorf("max_age soon accepted")
	}
}

func TestJSONSockets(t *testing.T) {
	tr := tree.New()
	tl := start(t, tr, config.Listener{Proto: "tcp", Format: "json"}, nil)
	sendTCP(t, tl.Addr(), `{"br": {"ie": {"7": 8}}, "defaultaction": "add"}`+"\n"+`{"br": {"ie": {"7": 2}}}`+"\nnot json\n")
	waitFor(t, tr, "br,ie,7", 10)
	ul := start(t, tr, config.Listener{Proto: "udp", Format: "json"}, nil)
	// A datagram is one push, even pretty-printed over lines.
	sendUDP(t, ul.Addr(), "{\"cpu\": {\n \"idle\": 32}}")
	waitFor(t, tr, "cpu,idle", 32)
}

func TestAccessLogSocket(t *testing.T) {
	tr := tree.New()
	got := make(chan []string, 4)
	fake := func(lines []string) (push.AccessLogResult, error) {
		got <- append([]string(nil), lines...)
		return push.AccessLogResult{Lines: len(lines)}, nil
	}
	l := start(t, tr, config.Listener{Proto: "tcp", Format: "accesslog"}, func(o *Options) { o.AccessLog = fake })
	sendTCP(t, l.Addr(), "line one\nline two\n")
	var all []string
	timeout := time.After(5 * time.Second)
	for len(all) < 2 {
		select {
		case ls := <-got:
			all = append(all, ls...)
		case <-timeout:
			t.Fatalf("got lines %q, want 2", all)
		}
	}
	if all[0] != "line one" || all[1] != "line two" {
		t.Errorf("got %q", all)
	}
	if _, err := Start(Options{Tree: tr, Config: config.Listener{Proto: "tcp", Listen: "127.0.0.1:0", Format: "accesslog"}}); err == nil {
		t.Errorf("accesslog without the pipes engine started")
	}
}

func TestLineLimit(t *testing.T) {
	tr := tree.New()
	l := start(t, tr, config.Listener{Proto: "tcp", Format: "statsd"}, func(o *Options) { o.Limits.MaxLineBytes = 64 })
	long := strings.Repeat("x", 100_000) + ":1|c"
	sendTCP(t, l.Addr(), long+"\nok:1|c\n")
	waitFor(t, tr, "statsd,counters,ok", 1)
	if v := values(t, tr, "statsd,counters"); len(v) != 1 {
		t.Errorf("the long line merged: %v", v)
	}
}

func TestMaxConns(t *testing.T) {
	tr := tree.New()
	l := start(t, tr, config.Listener{Proto: "tcp", Format: "statsd", MaxConns: 1}, nil)
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	fmt.Fprintf(c1, "a:1|c\n")
	waitFor(t, tr, "statsd,counters,a", 1)
	reply := sendTCP(t, l.Addr(), "b:1|c\n")
	if !strings.Contains(reply, "too many connections") {
		t.Errorf("second connection: got %q, want a refusal", reply)
	}
}

// Sockets trust loopback peers; others must open with "auth TOKEN" (a write
// token) when tokens are configured.
func TestSocketAuth(t *testing.T) {
	checker := auth.New([]config.Token{{Name: "w", Token: "wtok", Scopes: []string{"write"}}, {Name: "r", Token: "rtok", Scopes: []string{"read"}}})
	tr := tree.New()
	l := start(t, tr, config.Listener{Proto: "udp", Format: "statsd"}, func(o *Options) { o.Auth = checker })
	r := l.newReader(100)
	remote := &net.UDPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5000}
	local := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5000}
	tests := []struct {
		name string
		from net.Addr
		data string
		key  string
		want bool
	}{
		{"loopback without token", local, "loop:1|c", "loop", true},
		{"remote without token", remote, "none:1|c", "none", false},
		{"remote read token", remote, "auth rtok\nread:1|c", "read", false},
		{"remote wrong token", remote, "auth nope\nwrong:1|c", "wrong", false},
		{"remote write token", remote, "auth wtok\nwrite:1|c", "write", true},
	}
	for _, tt := range tests {
		r.datagram([]byte(tt.data), tt.from)
		r.flush()
		_, ok := values(t, tr, "statsd,counters")["statsd,counters,"+tt.key]
		if ok != tt.want {
			t.Errorf("%s: merged %v, want %v", tt.name, ok, tt.want)
		}
	}
	// The real socket path: loopback is exempt.
	sendUDP(t, l.Addr(), "real:1|c")
	waitFor(t, tr, "statsd,counters,real", 1)
}

func TestReadBufferRaised(t *testing.T) {
	l := start(t, tree.New(), config.Listener{Proto: "udp", Format: "statsd", ReadBuffer: 4 << 20}, nil)
	if l.RecvBuffer < 4<<20 {
		t.Logf("kernel granted SO_RCVBUF %d (< asked 4 MiB: no CAP_NET_ADMIN?)", l.RecvBuffer)
	}
	if l.RecvBuffer == 0 {
		t.Errorf("could not read SO_RCVBUF")
	}
}

// JSON pushes over sockets obey the same depth and node limits as /push.
func TestJSONSocketLimits(t *testing.T) {
	tr := tree.New()
	l := start(t, tr, config.Listener{Proto: "tcp", Format: "json"}, func(o *Options) {
		o.Limits.MaxJSONDepth, o.Limits.MaxPushNodes = 3, 4
	})
	sendTCP(t, l.Addr(), `{"deep": {"a": {"b": {"c": 1}}}}`+"\n"+`{"many": {"a": 1, "b": 2, "c": 3, "d": 4}}`+"\n"+`{"ok": {"x": 1}}`+"\n")
	waitFor(t, tr, "ok,x", 1)
	if v := values(t, tr, ""); len(v) != 1 {
		t.Errorf("pushes over the limits merged: %v", v)
	}
}

// A flood of new names stops at max_series; known names still merge.
func TestMaxSeries(t *testing.T) {
	tr := tree.New()
	l := start(t, tr, config.Listener{Proto: "tcp", Format: "statsd", MaxSeries: 3}, nil)
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "n%d:1|c\n", i)
	}
	b.WriteString("n0:1|c\n")
	sendTCP(t, l.Addr(), b.String())
	waitFor(t, tr, "statsd,counters,n0", 2)
	if v := values(t, tr, "statsd,counters"); len(v) != 3 {
		t.Errorf("got %d series, want 3: %v", len(v), v)
	}
}
