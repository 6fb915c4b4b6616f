package pipes

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// TestTimeLimitRetry: a batch whose pipe call passes the time limit is run
// again on a fresh instance, so a stall of the machine loses no line and
// counts none twice; a pipe that stalls on every attempt still has its
// batches dropped and counted as failures. A good pipe beside it counts
// every line either way, and /status and the log show the retries.
func TestTimeLimitRetry(t *testing.T) {
	const lines, batch = 900, 300
	bin := t.TempDir()
	buildBad(t, bin, map[string]string{"stallonce": "badpipe", "loop": "badpipe"})
	f := logformat.MustCompile("combined")
	var in [][]byte
	for i := range lines {
		in = append(in, fmt.Appendf(nil, `10.0.0.%d - - [05/Jan/2026:10:00:00 +0800] "GET /x HTTP/1.1" 200 1 "-" "curl/8"`, i%250))
	}
	for _, tc := range []struct {
		mode string
		// want is the stalling pipe's count (0: no key), retried and
		// failures its counters.
		want              float64
		retried, failures uint64
	}{
		{mode: "stallonce", want: lines, retried: 1},
		{mode: "loop", retried: lines / batch, failures: lines / batch},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ctx := context.Background()
			tr := tree.New()
			var logged strings.Builder
			m, err := New(Options{Tree: tr, Engine: pipetest.Engine(t), Workers: 1, BatchSize: batch, Log: log.New(&logged, "", 0)})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			wasm, err := os.ReadFile(filepath.Join(bin, tc.mode+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			// The stallonce guest keeps its "stalled once" marker in a
			// folder all its instances share.
			opt := host.PipeOptions{Limits: host.Limits{CallTimeout: testTimeout},
				Grants: host.Grants{Mounts: []host.Mount{{HostDir: t.TempDir(), GuestPath: "/state", Writable: true}}}}
			bad, err := m.opt.Engine.LoadPipe(ctx, tc.mode, wasm, opt)
			if err != nil {
				t.Fatal(err)
			}
			good, err := host.NewPipe(ctx, "count", host.RunnerFactory(&countLines{}), host.PipeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string]*host.Pipe{tc.mode + ".wasm": bad, "count.wasm": good} {
				if err := m.Add(name, p); err != nil {
					t.Fatal(err)
				}
			}
			if r := m.Run(ctx, []*logformat.Format{f}, nil, in); r.Lines != lines || r.Bad != 0 {
				t.Fatalf("run: %+v", r)
			}

			counts := map[string]float64{}
			for _, k := range []string{"bad," + tc.mode, "count,lines"} {
				p, _ := key.Parse(k)
				for _, e := range tr.Get(p) {
					counts[e.Key] += e.Value
				}
			}
			want := map[string]float64{"count,lines": lines}
			if tc.want > 0 {
				want["bad,"+tc.mode] = tc.want
			}
			if fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Errorf("counts %v, want %v", counts, want)
			}
			if n := uint64(strings.Count(logged.String(), "retrying the batch on a fresh instance")); n != tc.retried {
				t.Errorf("the log has %d retries, want %d:\n%s", n, tc.retried, logged.String())
			}
			for _, ps := range m.Status().Pipes {
				retried, failures := uint64(0), uint64(0)
				if ps.File == tc.mode+".wasm" {
					retried, failures = tc.retried, tc.failures
				}
				if ps.Retried != retried || ps.Failures != failures || ps.Quarantined {
					t.Errorf("%s: retried_calls %d, failures %d, quarantined %v; want %d, %d, false",
						ps.File, ps.Retried, ps.Failures, ps.Quarantined, retried, failures)
				}
				if b, _ := json.Marshal(ps); !strings.Contains(string(b), fmt.Sprintf(`"retried_calls":%d`, retried)) {
					t.Errorf("%s: /status entry %s lacks retried_calls", ps.File, b)
				}
			}
		})
	}
}
