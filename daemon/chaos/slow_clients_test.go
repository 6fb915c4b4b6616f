package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/app"
)

// headerTimeout is canopyd's http.Server ReadHeaderTimeout (daemon/app).
const headerTimeout = 10 * time.Second

// raiseNoFile lifts the soft open-file limit to the hard one: 2,500 client
// sockets do not fit the common 1,024 default. Go raises it itself at start
// (and canopyd too), this only makes sure and fails clearly when the hard
// limit is too low.
func raiseNoFile(t *testing.T, need uint64) {
	t.Helper()
	var l syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l))
	if l.Cur < l.Max {
		l.Cur = l.Max
		must(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l))
	}
	if l.Cur < need {
		t.Fatalf("RLIMIT_NOFILE is %d (hard %d), need %d open files: raise it (ulimit -Hn)", l.Cur, l.Max, need)
	}
}

// TestSlowClients holds 2,000 idle /pull long-polls and 500 slowloris
// connections (a request header sent a byte every 0.5 s, never finished)
// against a live canopyd: a normal /get must answer within 1 s all the
// while, every slowloris connection must be closed by the header timeout,
// and the long-polls must still be waiting, then all answer one push.
func TestSlowClients(t *testing.T) {
	const (
		polls    = 2000
		slow     = 500
		getLimit = time.Second
	)
	raiseNoFile(t, polls+slow+200)
	d := startDaemon(t, "", nil)
	base := d.URL()
	if code, b, _ := do(t, "POST", base+"/push", strings.NewReader(`{"ok":{"a":1}}`)); code != 200 {
		t.Fatalf("seed push: %d %s", code, b)
	}

	// Idle keep-alive: one request each, then silence; the daemon must
	// close them after its IdleTimeout, not hold them forever.
	const idle = 100
	idleClosed := make(chan time.Duration, idle)
	for i := range idle {
		c, err := net.Dial("tcp", d.Addr)
		if err != nil {
			t.Fatalf("keep-alive %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /get/ok,a HTTP/1.1\r\nHost: canopy\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("keep-alive %d: %v", i, err)
		}
		resp.Body.Close()
		go func() {
			t0 := time.Now()
			c.SetReadDeadline(t0.Add(app.IdleTimeout + 30*time.Second))
			if _, err := br.ReadByte(); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					idleClosed <- -1
					return
				}
			}
			idleClosed <- time.Since(t0)
		}()
	}

	// Long-polls: raw keep-alive sockets waiting on a key nothing changes.
	answered := make(chan error, polls)
	var pollConns []net.Conn
	t.Cleanup(func() {
		for _, c := range pollConns {
			c.Close()
		}
	})
	for i := range polls {
		c, err := net.Dial("tcp", d.Addr)
		if err != nil {
			t.Fatalf("long-poll %d: %v", i, err)
		}
		pollConns = append(pollConns, c)
		if _, err := fmt.Fprintf(c, "GET /pull/?key=idle&timeout=10m HTTP/1.1\r\nHost: canopy\r\n\r\n"); err != nil {
			t.Fatalf("long-poll %d: %v", i, err)
		}
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			answered <- err
		}()
	}
	waitGauge(t, base, "canopy_pull_clients", polls)

	// Slowloris: each connection dribbles a header that never ends; it
	// records when the daemon closed it.
	start := time.Now()
	closedAfter := make(chan time.Duration, slow)
	for i := range slow {
		c, err := net.Dial("tcp", d.Addr)
		if err != nil {
			t.Fatalf("slowloris %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			req := "GET /get/ok HTTP/1.1\r\nHost: canopy\r\nX-Slow: "
			buf := make([]byte, 64)
			for k := 0; ; k++ {
				b := byte('a')
				if k < len(req) {
					b = req[k]
				}
				if _, err := c.Write([]byte{b}); err != nil {
					break
				}
				c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := c.Read(buf); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						if time.Since(start) > 3*headerTimeout {
							closedAfter <- -1 // still open: the timeout does not work
							return
						}
						continue
					}
					break // EOF or reset: closed by the daemon
				}
				break // an answer to half a header also ends it
			}
			closedAfter <- time.Since(start)
		}()
	}

	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// Normal reads while both crowds hang, until the slowloris ones are gone.
	var worst time.Duration
	gets := 0
	var closes []time.Duration
	for len(closes) < slow {
		select {
		case c := <-closedAfter:
			closes = append(closes, c)
			continue
		case <-time.After(200 * time.Millisecond):
		}
		// A new connection each time: the daemon must still accept.
		t0 := time.Now()
		resp, err := fresh.Get(base + "/get/ok,a")
		if err != nil {
			t.Fatalf("/get while clients hang: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/get while clients hang: %d", resp.StatusCode)
		}
		worst = max(worst, time.Since(t0))
		gets++
	}
	slices.Sort(closes)
	if open := len(closes) - len(slices.DeleteFunc(slices.Clone(closes), func(c time.Duration) bool { return c < 0 })); open > 0 {
		t.Errorf("%d slowloris connections still open after %v", open, 3*headerTimeout)
	}
	if first := closes[0]; first >= 0 && first < headerTimeout-time.Second {
		t.Errorf("a slowloris connection was closed after %v, before the %v header timeout", first, headerTimeout)
	}
	if worst > getLimit {
		t.Errorf("slowest /get took %v while clients hung, want under %v", worst, getLimit)
	}
	select {
	case err := <-answered:
		t.Fatalf("a long-poll answered before any change: %v", err)
	default:
	}

	// One change under the polled key answers every long-poll.
	if code, b, _ := do(t, "POST", base+"/push", strings.NewReader(`{"idle":{"x":1}}`)); code != 200 {
		t.Fatalf("push: %d %s", code, b)
	}
	ok := 0
	deadline := time.After(time.Minute)
	for range polls {
		select {
		case err := <-answered:
			if err != nil {
				t.Errorf("long-poll: %v", err)
			} else {
				ok++
			}
		case <-deadline:
			t.Fatalf("%d of %d long-polls answered within a minute of the push", ok, polls)
		}
	}
	var idles []time.Duration
	for range idle {
		idles = append(idles, <-idleClosed)
	}
	slices.Sort(idles)
	if idles[0] < 0 {
		t.Errorf("idle keep-alive connections still open %v after their request (IdleTimeout %v)", app.IdleTimeout+30*time.Second, app.IdleTimeout)
	}
	report(t, "%d idle keep-alive closed after %.0f–%.0f s (IdleTimeout %v)", idle, idles[0].Seconds(), idles[len(idles)-1].Seconds(), app.IdleTimeout)
	report(t, "%d idle /pull + %d slowloris: %d /get, slowest %.0f ms (limit %v); slowloris closed after %.1f–%.1f s (ReadHeaderTimeout %v); %d/%d long-polls answered one push", polls, slow, gets, float64(worst.Microseconds())/1000, getLimit, closes[0].Seconds(), closes[len(closes)-1].Seconds(), headerTimeout, ok, polls)
}

// waitGauge waits until the daemon's /metrics gauge name reaches want.
func waitGauge(t *testing.T, base, name string, want float64) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_, b, _ := do(t, "GET", base+"/metrics", nil)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				fmt.Sscan(v, &got)
			}
		}
		if got >= want {
			return
		}
	}
	t.Fatalf("%s = %v after a minute, want %v", name, got, want)
}
