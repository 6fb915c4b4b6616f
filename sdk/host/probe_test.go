package host_test

import (
	"context"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// BenchmarkGuestParts measures what the Go SDK's parts cost inside WASM
// (testdata/benchpipe): decoding records, one Emit, ten Emits, an Emit of
// a path taken from the record. It reports thread CPU per line, which a
// busy shared machine distorts less than wall time.
func BenchmarkGuestParts(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	for _, mode := range []string{"decode", "emit1", "emit10", "emitdyn"} {
		f := filepath.Join(dir, mode+".wasm")
		if err := pipetest.BuildWASM("testdata/benchpipe", f, "-X main.mode="+mode); err != nil {
			b.Fatal(err)
		}
		b.Run(mode, func(b *testing.B) {
			p := pipetest.LoadWASM(b, f, nil)
			pi, err := p.Get(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Put(ctx, pi)
			const n = 512
			recs := make([]pipeabi.Record, n)
			for i := range recs {
				recs[i] = pipeabi.Record{Status: 200, Method: []string{"GET", "POST"}[i%2],
					Path: "/some/path/x", RequestTime: 0.1, Agent: pipeabi.Agent{Browser: "chrome"}}
			}
			batch := p.Layout.AppendBatch(nil, recs)
			var ds []pipeabi.Delta
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c0 := threadCPU()
			for b.Loop() {
				if ds, err = pi.Process(ctx, batch, n, ds[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(threadCPU()-c0)/float64(b.N*n), "cpu-ns/line")
		})
	}
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
