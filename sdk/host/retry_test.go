package host_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// TestProcessRetry: Pipe.Process runs a batch whose call passed the time
// limit once more on a fresh instance with the longer limit: after a stall
// the counts are exact (the stopped call's Emit is not in them), a pipe
// that stalls every time still has the batch dropped as one failure, and a
// guest failing on its own is not retried.
func TestProcessRetry(t *testing.T) {
	ctx := context.Background()
	e := pipetest.Engine(t)
	longer := fmt.Sprintf("(%v)", host.RetryLimitFactor*testTimeout)
	for _, tc := range []struct {
		name   string
		status int
		// per batch: the pipe's count (-1: the batch fails with err)
		counts []float64
		err    string // every failed batch's error has these |-separated pieces
		want   host.PipeStats
	}{
		{name: "stallonce", status: 200, counts: []float64{100, 100},
			want: host.PipeStats{Calls: 3, Records: 200, Retried: 1}},
		{name: "loop", status: 200, counts: []float64{-1, -1}, err: "time limit|on a retry|" + longer,
			want: host.PipeStats{Calls: 4, Records: 200, Retried: 2, BreakerStatus: host.BreakerStatus{Failures: 2}}},
		{name: "proctrap", status: 599, counts: []float64{-1}, err: "fatal error",
			want: host.PipeStats{Calls: 1, Records: 100, BreakerStatus: host.BreakerStatus{Failures: 1}}},
		{name: "panic", status: 200, counts: []float64{-1}, err: "pipe bug",
			want: host.PipeStats{Calls: 1, Records: 100, BreakerStatus: host.BreakerStatus{Failures: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := host.PipeOptions{Limits: host.Limits{CallTimeout: testTimeout},
				Grants: host.Grants{Mounts: []host.Mount{{HostDir: t.TempDir(), GuestPath: "/state", Writable: true}}}}
			p, err := e.LoadPipe(ctx, tc.name, wasmFile(t, tc.name), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			// A delta already in dst stays, whatever happens to the batch.
			before := pipeabi.Delta{Path: []string{"before"}, Value: 1}
			for i, want := range tc.counts {
				ds, err := p.Process(ctx, batchFor(p, 100, tc.status), 100, []pipeabi.Delta{before})
				if len(ds) == 0 || ds[0].Path[0] != "before" {
					t.Fatalf("batch %d: deltas %+v lost the one before", i, ds)
				}
				var got float64
				for _, d := range ds[1:] {
					got += d.Value
				}
				if want < 0 {
					if err == nil || !containsAll(err.Error(), tc.err) || len(ds) != 1 {
						t.Fatalf("batch %d: err %v, deltas %+v; want %q and none", i, err, ds, tc.err)
					}
					t.Logf("batch %d dropped: %v", i, err)
					continue
				}
				if err != nil || got != want {
					t.Fatalf("batch %d: counted %v (err %v), want %v", i, got, err, want)
				}
			}
			st := p.Stats()
			got := host.PipeStats{Calls: st.Calls, Records: st.Records, Retried: st.Retried,
				BreakerStatus: host.BreakerStatus{Failures: st.Failures}}
			if got != tc.want {
				t.Errorf("stats %+v, want %+v", got, tc.want)
			}
			if (st.Retried > 0) != strings.Contains(st.LastRetryError, "time limit") {
				t.Errorf("last_retry_error %q with %d retries", st.LastRetryError, st.Retried)
			}
			if st.Quarantined {
				t.Errorf("quarantined: %s", st.QuarantineReason)
			}
		})
	}
}

// TestRetryIsNotAFailure: batches that each stall once and then succeed
// never trip the breaker, however many there are.
func TestRetryIsNotAFailure(t *testing.T) {
	ctx := context.Background()
	e := pipetest.Engine(t)
	for i := range host.DefaultMaxFailures + 1 {
		// A new state folder each time: the next first call stalls again.
		opt := host.PipeOptions{Limits: host.Limits{CallTimeout: testTimeout},
			Grants: host.Grants{Mounts: []host.Mount{{HostDir: t.TempDir(), GuestPath: "/state", Writable: true}}}}
		p, err := e.LoadPipe(ctx, "stallonce", wasmFile(t, "stallonce"), opt)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Process(ctx, batchFor(p, 10, 200), 10, nil)
		st := p.Stats()
		p.Close(ctx)
		if err != nil || st.Retried != 1 || st.Failures != 0 || st.Quarantined {
			t.Fatalf("pipe %d: err %v, stats %+v", i, err, st)
		}
	}
}

// containsAll reports whether s contains every |-separated want.
func containsAll(s, wants string) bool {
	for _, w := range strings.Split(wants, "|") {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
