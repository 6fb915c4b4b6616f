// Package tally counts a batch's records per distinct value of a
// dictionary-encoded string column (sdk/pipeabi README, "Record batch"), so the
// built-in pipes look each distinct path or agent up once per batch instead
// of once per record.
package tally

import "github.com/canopy-dev/canopy/sdk/pipe"

// Tally is reused from batch to batch. The zero Tally is ready.
type Tally struct {
	// Counts[d] is how many records have distinct value d; First[d] is the
	// first of them (to read its other columns, e.g. a hash).
	Counts []uint32
	First  []int32
}

// Count tallies column s.
func (t *Tally) Count(s pipe.Strings) {
	n := s.Distinct()
	if cap(t.Counts) < n {
		t.Counts, t.First = make([]uint32, n), make([]int32, n)
	}
	t.Counts, t.First = t.Counts[:n], t.First[:n]
	clear(t.Counts)
	counts, first := t.Counts, t.First
	for r, d := range s.Indexes() {
		if counts[d] == 0 {
			first[d] = int32(r)
		}
		counts[d]++
	}
}
