package topn

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestSketch checks the space-saving bookkeeping without a tree: after a
// Zipf-like stream the sketch holds at most capacity candidates, at most
// maxKeys items are admitted, the heaviest items are admitted and admitted
// plus other add up to the stream.
func TestSketch(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		top, maxKeys, capacity int
		distinct, n            int
		wantAdmitted           []string
	}{
		{"small-exact", 100, 1000, 2000, 50, 10000, []string{"i0", "i49"}},
		{"zipf", 10, 100, 500, 1_000_000, 200_000, []string{"i0", "i1", "i2", "i3", "i4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.top, tc.maxKeys, tc.capacity, 64, []string{"x"})
			r := rand.New(rand.NewPCG(1, 2))
			z := rand.NewZipf(r, 1.2, 1, uint64(tc.distinct-1))
			for range tc.n {
				s.Add(fmt.Sprintf("i%d", z.Uint64()), 1)
			}
			if tc.distinct <= tc.top {
				for i := range tc.distinct {
					s.Add(fmt.Sprintf("i%d", i), 1)
				}
			}
			if len(s.cands) > tc.capacity || s.Len() > tc.maxKeys {
				t.Errorf("%d candidates (cap %d), %d admitted (cap %d)", len(s.cands), tc.capacity, s.Len(), tc.maxKeys)
			}
			var sum float64
			for i := range s.total {
				sum += s.delta[i][0]
			}
			if got, want := sum+s.other[0], float64(tc.n+min(tc.distinct, tc.top)*boolInt(tc.distinct <= tc.top)); got != want {
				t.Errorf("admitted + other = %v, want %v", got, want)
			}
			for _, w := range tc.wantAdmitted {
				if i, ok := s.index.Get(w); !ok || i < 0 {
					t.Errorf("%s not admitted", w)
				}
			}
			for p := range s.heap {
				if c := 2*p + 1; c < len(s.heap) && s.heap[c].count < s.heap[p].count {
					t.Fatalf("heap order broken at %d", p)
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestHugeCaps: caps far above what is used (the GoAccess differential's
// exact configuration) cost nothing up front; a WASM instance has 64 MiB.
func TestHugeCaps(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := New(10_000_000, 10_000_000, 10_000_000, 64, []string{"x"})
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("New allocated %d bytes for an empty set", grew)
	}
	s.Add("a", 1)
	if s.Len() != 1 {
		t.Errorf("Len %d, want 1", s.Len())
	}
}
