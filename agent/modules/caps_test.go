package modules

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// A module that loops, runs out of memory or panics costs its file the
// instance each time and is quarantined after 5 failures; modules in other
// files go on.
func TestCapsAndQuarantine(t *testing.T) {
	dir := t.TempDir()
	if err := pipetest.BuildWASM("testdata/bad", filepath.Join(dir, "bad.wasm")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(builtinDir, "builtin.wasm"))
	os.WriteFile(filepath.Join(dir, "builtin.wasm"), b, 0o644)
	eng, err := host.NewEngine(filepath.Join(os.TempDir(), "canopy-agent-test-cache"))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	for _, mode := range []string{"loop", "oom", "panic"} {
		t.Run(mode, func(t *testing.T) {
			rt := New(Options{Dir: dir, Engine: eng, MemoryBytes: 32 << 20, CallTimeout: 300 * time.Millisecond, Logf: t.Logf})
			mods := rt.Load(ctx, conf(t, `modules {
  module { name = "bad" path = "bad.wasm" param mode { value = "`+mode+`" } }
  module { name = "load" path = "builtin.wasm" grant { read = "/proc" } }
}`))
			defer Close(ctx, mods)
			bad, good := mods[0], mods[1]
			if bad.Err != nil || good.Err != nil {
				t.Fatalf("load: %v / %v", bad.Err, good.Err)
			}
			var err error
			for i := 0; i < 5; i++ {
				start := time.Now()
				_, err = bad.Values(ctx, []uint32{0})
				if err == nil {
					t.Fatalf("call %d: no error", i)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("call %d took %v", i, d)
				}
				if _, gerr := good.Values(ctx, all(good)); gerr != nil {
					t.Errorf("a module in another file failed too: %v", gerr)
				}
			}
			if !strings.Contains(err.Error(), "quarantined") {
				t.Errorf("after 5 failures: %v; want quarantined", err)
			}
			if _, err := bad.Values(ctx, []uint32{0}); err == nil || !strings.Contains(err.Error(), "quarantined") {
				t.Errorf("a quarantined module answered: %v", err)
			}
			if st := bad.Status(); !st.Breaker.Quarantined {
				t.Errorf("status = %+v", st)
			}
			t.Logf("%s: %v", mode, err)
		})
	}
}
