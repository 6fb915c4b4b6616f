package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchBodies are the pushes of BenchmarkRelayDeltas: 5,000 deltas over
// 20 top-level keys each.
func benchBodies(perPush int) [][]byte {
	bodies := make([][]byte, 20)
	for i := range bodies {
		obj := map[string]map[string]int{}
		for r := 0; r < 20; r++ {
			m := map[string]int{}
			for k := 0; k < perPush/20; k++ {
				m[fmt.Sprintf("metric%03d", k)] = 1 + (i+k)%5
			}
			obj[fmt.Sprintf("app%02d", r)] = m
		}
		bodies[i], _ = json.Marshal(obj)
	}
	return bodies
}

// BenchmarkRelayInProcess runs the whole path of BenchmarkRelayDeltas —
// client, relay, two daemons — in this process, so that -cpuprofile sees
// all of it and the CPU time per delta is measured without the noise of
// other processes: go test ./daemon/relay -run '^$' -bench InProcess
// -cpuprofile cpu.out.
func BenchmarkRelayInProcess(b *testing.B) {
	for _, compress := range []bool{true, false} {
		b.Run(fmt.Sprintf("compress=%v", compress), func(b *testing.B) {
			var urls []Upstream
			for i := 0; i < 2; i++ {
				tr := tree.New()
				srv := httptest.NewServer(api.New(api.Options{Tree: tr}))
				b.Cleanup(srv.Close)
				urls = append(urls, Upstream{URL: srv.URL})
			}
			cfg := &Config{Upstreams: urls, Compress: &compress}
			if err := cfg.setDefaults(); err != nil {
				b.Fatal(err)
			}
			r, err := New(cfg, b.TempDir(), b.Logf)
			if err != nil {
				b.Fatal(err)
			}
			r.Start()
			b.Cleanup(r.Close)
			front := httptest.NewServer(r.Handler())
			b.Cleanup(front.Close)

			const perPush, clients = 5000, 4
			bodies := benchBodies(perPush)
			pushes := max(b.N, 200)
			b.ResetTimer()
			cpu := cpuTime()
			start := time.Now()
			var wg sync.WaitGroup
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					for i := c; i < pushes; i += clients {
						resp, err := http.Post(front.URL+"/push", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
						if err != nil || resp.StatusCode != http.StatusOK {
							b.Errorf("push: %v %v", err, resp)
							return
						}
						resp.Body.Close()
					}
				}(c)
			}
			wg.Wait()
			for {
				var unsent uint64
				for _, s := range r.Status() {
					unsent += s.Unsent
				}
				if unsent == 0 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)
			used := cpuTime() - cpu
			b.StopTimer()
			deltas := float64(pushes * perPush)
			var wire uint64
			for _, s := range r.Status() {
				wire += s.WireBytes
			}
			b.ReportMetric(deltas/elapsed.Seconds(), "deltas/s")
			b.ReportMetric(used.Seconds()/(deltas/1e6), "cpu-s/Mdelta")
			b.ReportMetric(float64(wire)/deltas, "wire-B/delta")
		})
	}
}
