package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// relayTops are the top-level keys of every push: enough of them that a
// sharding relay splits each push over both upstreams.
const relayTops = 8

// relayPush is push i: one increment of "t<k>,p<i>" under each top-level
// key, so the upstreams' trees tell, per push, how often it arrived.
func relayPush(i int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for k := range relayTops {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%d":{"p%d":1}`, k, i)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// sender pushes relayPush(0), relayPush(1), … to a relay at a steady rate
// and remembers which ones were acknowledged (2xx). A push that got no
// answer (the relay was killed under it, or down) is in doubt: it may or
// may not have been queued, and is never resent.
type sender struct {
	mu    sync.Mutex
	acked map[int]bool
	fails int
	n     int
	stop  chan struct{}
	done  chan struct{}
}

func startSender(url string, perSecond int) *sender {
	s := &sender{acked: map[int]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	hc := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			ok := false
			if resp, err := hc.Post(url+"/push", "application/json", bytes.NewReader(relayPush(i))); err == nil {
				ok = resp.StatusCode/100 == 2
				resp.Body.Close()
			}
			s.mu.Lock()
			s.n = i + 1
			if ok {
				s.acked[i] = true
			} else {
				s.fails++
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sender) Stop() {
	close(s.stop)
	<-s.done
}

// relayCounts reads every "t<k>,p<i>" of an upstream into per-push
// counts: got[i][k] is the value of t<k>,p<i>.
func relayCounts(t *testing.T, base string, got map[int]*[relayTops]float64) {
	t.Helper()
	code, b, _ := do(t, "GET", base+"/get/", nil)
	if code != 200 {
		t.Fatalf("%s/get/: %d %.200s", base, code, b)
	}
	var list []map[string]float64
	must(t, json.Unmarshal(b, &list))
	for _, m := range list {
		for key, v := range m {
			var k, i int
			if _, err := fmt.Sscanf(key, "t%d,p%d", &k, &i); err != nil || k < 0 || k >= relayTops {
				continue
			}
			if got[i] == nil {
				got[i] = new([relayTops]float64)
			}
			got[i][k] += v
		}
	}
}

// relayDrained reports whether every upstream is up with nothing unsent.
func relayDrained(t *testing.T, base string) bool {
	code, b, _ := do(t, "GET", base+"/status", nil)
	if code != 200 {
		return false
	}
	var st struct {
		Upstreams []struct {
			Up     bool   `json:"up"`
			Unsent uint64 `json:"unsent_records"`
		} `json:"upstreams"`
	}
	if json.Unmarshal(b, &st) != nil || len(st.Upstreams) == 0 {
		return false
	}
	for _, u := range st.Upstreams {
		if !u.Up || u.Unsent > 0 {
			return false
		}
	}
	return true
}

// TestRelayOutage: a relay in front of two upstream canopyd takes a
// steady stream of pushes; one upstream is killed with SIGKILL for 20 s
// and restarted on its data dir, and the relay itself is killed with
// SIGKILL once while sending (while that upstream is down, so its queue
// holds unsent records) and restarted on its data dir. In the end every
// acknowledged push is in the upstreams exactly once (shard: across the
// two; replicate: in each), and a push left in doubt by the relay's kill
// is there once or not at all.
func TestRelayOutage(t *testing.T) {
	const (
		rate   = 100 // pushes per second
		outage = 20 * time.Second
	)
	for _, mode := range []string{"shard", "replicate"} {
		t.Run(mode, func(t *testing.T) {
			a := startDaemon(t, "{}\n", nil, "-snapshot.interval", "1s")
			b := startDaemon(t, "{}\n", nil, "-snapshot.interval", "1s")
			dir := t.TempDir()
			conf := filepath.Join(dir, "relay.conf")
			must(t, os.WriteFile(conf, []byte(fmt.Sprintf("mode: %s\nupstreams:\n  - url: %s\n  - url: %s\nbatch: {retry: 50ms, max_retry: 500ms}\n", mode, a.URL(), b.URL())), 0o644))
			relay := testenv.StartCanopyd(t, testenv.BuildCanopyd(t), "--relay", "-config", conf, "-data", filepath.Join(dir, "data"))

			s := startSender(relay.URL(), rate)
			time.Sleep(3 * time.Second)
			a.Kill()
			downAt := time.Now()
			time.Sleep(5 * time.Second)
			relay.Kill()
			relay.Start()
			time.Sleep(time.Until(downAt.Add(outage)))
			a.Start()
			time.Sleep(5 * time.Second)
			s.Stop()
			waitUntil(t, 2*time.Minute, "the relay to drain", func() bool { return relayDrained(t, relay.URL()) })
			time.Sleep(2 * time.Second) // anything sent twice would have landed by now

			// In replicate mode each upstream must hold every push; in
			// shard mode the two together.
			views := map[string][]*daemon{"a+b": {a, b}}
			if mode == "replicate" {
				views = map[string][]*daemon{"a": {a}, "b": {b}}
			}
			var figs []string
			for _, name := range []string{"a+b", "a", "b"} {
				ups, ok := views[name]
				if !ok {
					continue
				}
				got := map[int]*[relayTops]float64{}
				for _, u := range ups {
					relayCounts(t, u.URL(), got)
				}
				sum := 0.0
				lost, twice, doubtIn, partial := 0, 0, 0, 0
				for i := range s.n {
					c := got[i]
					if c == nil {
						c = new([relayTops]float64)
					}
					n0, n1 := 0, 0
					for _, v := range c {
						sum += v
						switch {
						case v == 0:
							n0++
						case v == 1:
							n1++
						default:
							twice++
						}
					}
					switch {
					case s.acked[i]:
						lost += n0
					case n1 == relayTops:
						doubtIn++
					case n1 > 0:
						partial++
					}
				}
				want := float64(relayTops * len(s.acked))
				if lost > 0 || twice > 0 {
					t.Errorf("%s: %d increments of acknowledged pushes lost, %d arrived twice", name, lost, twice)
				}
				if partial > 0 {
					t.Errorf("%s: %d unacknowledged pushes arrived in part", name, partial)
				}
				if extra := sum - want - float64(relayTops*doubtIn); extra != 0 {
					t.Errorf("%s: %.0f increments arrived, %.0f acknowledged + %d of pushes in doubt", name, sum, want, relayTops*doubtIn)
				}
				figs = append(figs, fmt.Sprintf("%s has %.0f of %.0f acknowledged increments (lost %d, twice %d; %d of %d pushes in doubt arrived whole, %d in part)",
					name, sum-float64(relayTops*doubtIn), want, lost, twice, doubtIn, s.fails, partial))
			}
			report(t, "%s: %d pushes × %d increments at %d/s, %d acknowledged; upstream a kill -9 for %v, relay kill -9 once: %s",
				mode, s.n, relayTops, rate, len(s.acked), outage, strings.Join(figs, "; "))
		})
	}
}
