package host_test

import (
	"runtime"
	"syscall"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/abi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

func TestProbeSpeed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, mode := range []string{"decode", "emit1", "emit10", "emitdyn"} {
		f := filepath.Join(dir, mode+".wasm")
		if err := pipetest.BuildWASM("testdata/benchpipe", f, "-X main.mode="+mode); err != nil {
			t.Fatal(err)
		}
		p := pipetest.LoadWASM(t, f, nil)
		pi, _ := p.Get(ctx)
		n := 512
		b := abi.AppendBatch(nil, n)
		for i := range n {
			b = p.Layout.AppendRecord(b, &abi.Record{Status: 200, Method: []string{"GET", "POST"}[i%2], Path: "/some/path/x",
				RequestTime: 0.1, Agent: abi.Agent{Browser: "chrome"}})
		}
		var ds []abi.Delta
		var err error
		for range 5 {
			ds, err = pi.Process(ctx, b, n, ds[:0])
		}
		runtime.LockOSThread()
		start, c0 := time.Now(), threadCPU()
		const iters = 100
		for range iters {
			ds, err = pi.Process(ctx, b, n, ds[:0])
			if err != nil {
				t.Fatal(err)
			}
		}
		d, cpu := time.Since(start)/iters, (threadCPU()-c0)/iters
		runtime.UnlockOSThread()
		t.Logf("%s: %v wall, %v cpu per line", mode, d/time.Duration(n), cpu/time.Duration(n))
	}
}

// threadCPU is the CPU time of the calling OS thread: unlike wall time it
// does not count the time other processes on a busy machine take.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
