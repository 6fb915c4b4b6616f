package relay_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/testenv"
)

type relayStats struct {
	Upstreams []struct {
		Sent      uint64 `json:"sent_records"`
		WireBytes uint64 `json:"wire_bytes"`
		RawBytes  uint64 `json:"raw_bytes"`
		Unsent    uint64 `json:"unsent_records"`
	} `json:"upstreams"`
}

func relayStatus(b *testing.B, relay *testenv.Proc) relayStats {
	resp, err := http.Get(relay.URL() + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var st relayStats
	json.NewDecoder(resp.Body).Decode(&st)
	return st
}

// startRelay runs two upstream daemons and a relay with extra config lines.
func startRelay(b *testing.B, extra, upPipes, relayPipes string) (*testenv.Proc, []*testenv.Proc) {
	bin := testenv.BuildCanopyd(b)
	empty := filepath.Join(b.TempDir(), "empty.yaml")
	os.WriteFile(empty, []byte("{}\n"), 0o644)
	var ups []*testenv.Proc
	for i := 0; i < 2; i++ {
		ups = append(ups, testenv.StartCanopyd(b, bin, "-data", b.TempDir(), "-config", empty, "-pipes.builtin=false", "-pipes", upPipes))
	}
	conf := filepath.Join(b.TempDir(), "relay.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("mode: shard\nupstreams:\n  - url: %s\n  - url: %s\n%s", ups[0].URL(), ups[1].URL(), extra)), 0o644)
	relay := testenv.StartCanopyd(b, bin, "--relay", "-config", conf, "-data", b.TempDir(), "-pipes.builtin=false", "-pipes", relayPipes)
	return relay, ups
}

// processCPU reads process_cpu_seconds_total from a canopyd's /metrics.
func processCPU(b *testing.B, p *testenv.Proc) float64 {
	resp, err := http.Get(p.URL() + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	b.Fatalf("%s/metrics has no process_cpu_seconds_total", p.URL())
	return 0
}

// cpuMeter sums the CPU time of the relay, the upstreams and this process
// (the clients) between start and stop, so that a run on a busy machine
// still says what forwarding costs.
type cpuMeter struct {
	relay, ups, self float64
}

func readCPU(b *testing.B, relay *testenv.Proc, ups []*testenv.Proc) cpuMeter {
	m := cpuMeter{relay: processCPU(b, relay), self: selfCPU().Seconds()}
	for _, u := range ups {
		m.ups += processCPU(b, u)
	}
	return m
}

// report adds CPU seconds per million deltas (or lines) to b.
func (m cpuMeter) report(b *testing.B, end cpuMeter, n float64, unit string) {
	per := n / 1e6
	b.ReportMetric((end.relay-m.relay)/per, "relay-cpu-s/M"+unit)
	b.ReportMetric((end.ups-m.ups)/per, "upstreams-cpu-s/M"+unit)
	b.ReportMetric((end.self-m.self)/per, "clients-cpu-s/M"+unit)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func drain(b *testing.B, relay *testenv.Proc) relayStats {
	for {
		st := relayStatus(b, relay)
		unsent := uint64(0)
		for _, u := range st.Upstreams {
			unsent += u.Unsent
		}
		if unsent == 0 {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkRelayDeltas measures deltas/s forwarded by a sharding relay to
// two daemons (from the first push to the last delta delivered), and bytes
// on the wire per delta.
func BenchmarkRelayDeltas(b *testing.B) {
	relay, ups := startRelay(b, "", b.TempDir(), b.TempDir())
	const perPush, clients = 5000, 4
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
	pushes := max(b.N, 400) // at least 2M deltas per run
	b.ResetTimer()
	cpu := readCPU(b, relay, ups)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; i < pushes; i += clients {
				resp, err := http.Post(relay.URL()+"/push", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("push: %v %v", err, resp)
					return
				}
				resp.Body.Close()
			}
		}(c)
	}
	wg.Wait()
	accepted := time.Since(start)
	st := drain(b, relay)
	elapsed := time.Since(start)
	cpu.report(b, readCPU(b, relay, ups), float64(pushes*perPush), "delta")
	deltas := float64(pushes * perPush)
	var wire, raw uint64
	for _, u := range st.Upstreams {
		wire += u.WireBytes
		raw += u.RawBytes
	}
	b.ReportMetric(deltas/elapsed.Seconds(), "deltas/s")
	b.ReportMetric(deltas/accepted.Seconds(), "accepted-deltas/s")
	b.ReportMetric(float64(wire)/deltas, "wire-B/delta")
	b.ReportMetric(float64(raw)/deltas, "raw-B/delta")
}

// BenchmarkRelayAccessLog compares bytes on the wire per access-log line
// when the relay forwards raw lines and when it runs the pipes itself.
func BenchmarkRelayAccessLog(b *testing.B) {
	lines, _, err := loggen.Lines(loggen.Config{Lines: 100_000, Seed: 1, Format: "main"})
	if err != nil {
		b.Fatal(err)
	}
	var chunks [][]byte
	for i := 0; i < len(lines); i += 2000 {
		chunks = append(chunks, bytes.Join(lines[i:min(i+2000, len(lines))], nil))
	}
	for _, mode := range []string{"forward", "pipes"} {
		b.Run(mode, func(b *testing.B) {
			relay, ups := startRelay(b, "accesslog: "+mode+"\n", "../../pipes-wasm", "../../pipes-wasm")
			b.ResetTimer()
			cpu := readCPU(b, relay, ups)
			start := time.Now()
			for _, c := range chunks {
				resp, err := http.Post(relay.URL()+"/push", "text/plain", bytes.NewReader(c))
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("push: %v %v", err, resp)
				}
				resp.Body.Close()
			}
			st := drain(b, relay)
			elapsed := time.Since(start)
			cpu.report(b, readCPU(b, relay, ups), float64(len(lines)), "line")
			var wire uint64
			for _, u := range st.Upstreams {
				wire += u.WireBytes
			}
			b.ReportMetric(float64(len(lines))/elapsed.Seconds(), "lines/s")
			b.ReportMetric(float64(wire)/float64(len(lines)), "wire-B/line")
		})
	}
}
