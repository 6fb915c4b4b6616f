package hll

import (
	"fmt"
	"math"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestEstimate: n distinct hashes (each inserted twice) are counted within
// a few standard errors (1.04/√m) at every range, small to large.
func TestEstimate(t *testing.T) {
	for _, tc := range []struct {
		p uint8
		n int
	}{{14, 10}, {14, 1000}, {14, 20_000}, {14, 50_000}, {16, 5000}, {16, 150_000}, {16, 300_000}, {16, 1_000_000}} {
		t.Run(fmt.Sprint(tc.p, "/", tc.n), func(t *testing.T) {
			s, err := New(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			var buf [8]byte
			for i := range 2 * tc.n {
				v := uint64(i % tc.n)
				for j := range buf {
					buf[j] = byte(v >> (8 * j))
				}
				s.InsertHash(xxhash.Sum64(buf[:]))
			}
			rel := math.Abs(float64(s.Estimate())-float64(tc.n)) / float64(tc.n)
			if se := 1.04 / math.Sqrt(float64(int(1)<<tc.p)); rel > 4*se {
				t.Errorf("%d distinct counted as %d: error %.3f %%, want ≤ %.3f %%", tc.n, s.Estimate(), rel*100, 400*se)
			}
		})
	}
}

func TestNewRefusesPrecision(t *testing.T) {
	for _, p := range []uint8{0, 3, 19} {
		if _, err := New(p); err == nil {
			t.Errorf("New(%d) took it", p)
		}
	}
}
