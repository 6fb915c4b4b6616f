package strtab

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMatchesGoMap runs random sets and deletes on a Map and a Go map
// side by side; keys are short and long, with shared prefixes and a small
// table so probe runs wrap around and deletions shift keys back.
func TestMatchesGoMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys int
		ops  int
	}{
		{"few keys, wrapping", 20, 5000},
		{"many keys", 3000, 50000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, want := New(4), map[string]int32{}
			key := func() string {
				k := rng.IntN(tc.keys)
				switch k % 3 {
				case 0:
					return fmt.Sprint(k)
				case 1:
					return fmt.Sprintf("/some/longer/path/%d/x", k)
				}
				return fmt.Sprintf("10.0.%d.%d", k/256, k%256)
			}
			for i := range tc.ops {
				k := key()
				switch rng.IntN(3) {
				case 0, 1:
					m.Set(k, int32(i))
					want[k] = int32(i)
				case 2:
					m.Delete(k)
					delete(want, k)
				}
				if m.Len() != len(want) {
					t.Fatalf("op %d: Len %d, want %d", i, m.Len(), len(want))
				}
			}
			for k, v := range want {
				if got, ok := m.Get(k); !ok || got != v {
					t.Fatalf("Get(%q) = %d, %v; want %d", k, got, ok, v)
				}
			}
			for i := range tc.keys {
				k := fmt.Sprintf("/some/longer/path/%d/x", i)
				_, ok := m.Get(k)
				if _, w := want[k]; ok != w {
					t.Fatalf("Get(%q) present %v, want %v", k, ok, w)
				}
			}
			if _, ok := m.Get(""); ok {
				t.Errorf("absent empty key found")
			}
			m.Set("", 7)
			if v, ok := m.Get(""); !ok || v != 7 {
				t.Errorf("Get(\"\") = %d, %v; want 7", v, ok)
			}
			m.Clear()
			if _, ok := m.Get(""); ok || m.Len() != 0 {
				t.Errorf("Clear left keys")
			}
		})
	}
}
