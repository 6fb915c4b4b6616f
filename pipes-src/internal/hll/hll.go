// Package hll is a dense HyperLogLog sketch with 4-bit registers, read
// with Ertl's improved raw estimator ("New cardinality estimation
// algorithms for HyperLogLog sketches", 2017), which needs no empirical
// bias tables and no switch to linear counting.
//
// A register holds min(leading zeros, 14)+1 of the hash bits after the
// index, so one fits in a nibble; that caps the range near m·2^14
// distinct values (2^30 at precision 16), far above a day's visitors.
package hll

import (
	"fmt"
	"math"
	"math/bits"
)

// q is how many hash bits after the index a register looks at.
const q = 14

// Sketch counts distinct 64-bit hashes.
type Sketch struct {
	p   uint8
	reg []byte // two registers a byte
}

// New makes a sketch of 2^p registers (p in 4..18).
func New(p uint8) (*Sketch, error) {
	if p < 4 || p > 18 {
		return nil, fmt.Errorf("hll precision %d: want 4 to 18", p)
	}
	return &Sketch{p: p, reg: make([]byte, 1<<p/2)}, nil
}

// InsertHash adds a well-mixed 64-bit hash.
func (s *Sketch) InsertHash(h uint64) {
	i := h >> (64 - s.p)
	r := byte(min(bits.LeadingZeros64(h<<s.p|1<<(s.p-1)), q) + 1)
	b, shift := &s.reg[i/2], 4*(i%2)
	if cur := *b >> shift & 0xf; r > cur {
		*b = *b&^(0xf<<shift) | r<<shift
	}
}

// Estimate is the sketch's count of distinct hashes.
func (s *Sketch) Estimate() uint64 {
	var c [q + 2]float64 // registers by value
	for _, b := range s.reg {
		c[b&0xf]++
		c[b>>4]++
	}
	m := float64(len(s.reg) * 2)
	z := m * tau(1-c[q+1]/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + c[k])
	}
	z += m * sigma(c[0]/m)
	return uint64(math.Round(m * m / (2 * math.Ln2 * z)))
}

// sigma(x) = x + Σ_{k≥1} x^(2^k)·2^(k-1).
func sigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

// tau(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))²·2^-k) / 3.
func tau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}
