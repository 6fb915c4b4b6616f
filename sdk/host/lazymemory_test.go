package host_test

import (
	"context"
	"testing"

	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// TestLazyMemory: guests whose memory lives in its own mapping and whose
// code bodies are dropped (EngineOptions.LazyMemory and DropCode, as
// canopy-agent runs them) work, hit the memory cap as before, and are
// replaced after a trap.
func TestLazyMemory(t *testing.T) {
	ctx := context.Background()
	e, err := host.NewEngineWith(host.EngineOptions{CacheDir: pipetest.CacheDir(), LazyMemory: true, DropCode: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	opt := host.PipeOptions{Limits: host.Limits{CallTimeout: testTimeout, MemoryBytes: 32 << 20}}
	for _, tc := range []struct {
		name   string
		status int
		runErr string // "" when the batch must succeed
	}{
		{"good", 200, ""},
		{"bigalloc", 200, "out of memory"},
		{"membomb", 200, "out of memory|time limit"},
		{"outside", 200, "outside"},
		{"proctrap", 599, "fatal error"},
		{"proctrap", 200, ""}, // a fresh instance after the trap
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.LoadPipe(ctx, tc.name, wasmFile(t, tc.name), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			for i := range 2 {
				pi, err := p.Get(ctx)
				if err != nil {
					t.Fatal(err)
				}
				ds, err := pi.Process(ctx, batchFor(p, 100, tc.status), 100, nil)
				p.Put(ctx, pi)
				if tc.runErr == "" {
					if err != nil || len(ds) == 0 {
						t.Fatalf("batch %d: deltas %v, err %v", i, ds, err)
					}
					continue
				}
				if err == nil || !containsAny(err.Error(), tc.runErr) {
					t.Fatalf("batch %d: err %v, want %q", i, err, tc.runErr)
				}
			}
		})
	}
}
