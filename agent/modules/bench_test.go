package modules

import (
	"context"
	"os"
	"testing"
)

// BenchmarkSystemRound is one collection round of the /proc modules (cpu,
// mem, load, net, disk) on this machine: the host calls, the guest's reads
// and parsing, the encoding both ways. AGENT_BENCH_MODULES names a second
// module folder (another build of builtin.wasm) to run beside the
// committed one, for same-run comparisons.
func BenchmarkSystemRound(b *testing.B) {
	dirs := []struct{ name, dir string }{{"committed", builtinDir}}
	if d := os.Getenv("AGENT_BENCH_MODULES"); d != "" {
		dirs = append(dirs, struct{ name, dir string }{"other", d})
	}
	for _, d := range dirs {
		b.Run(d.name, func(b *testing.B) {
			rt := newRuntime(b)
			rt.opt.Dir = d.dir
			ctx := context.Background()
			mods := rt.Load(ctx, conf(b, systemModules))
			defer Close(ctx, mods)
			idx := make([][]uint32, len(mods))
			for i, m := range mods {
				if m.Err != nil {
					b.Fatalf("%s: %v", m.Name(), m.Err)
				}
				idx[i] = all(m)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for i, m := range mods {
					if _, err := m.Values(ctx, idx[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
