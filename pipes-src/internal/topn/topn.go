// Package topn keeps the heavy hitters of an unbounded string stream (client
// IPs, referrers, 404 paths) in bounded memory and turns them into tree
// deltas: every item with its own key once it is among the top, the rest
// summed under a `_other` key, so that the keys plus `_other` always add up
// to the exact total.
//
// Candidates are counted by the space-saving algorithm (Metwally et al.,
// 2005): at most Capacity counters; a new item past it replaces the
// smallest counter and inherits its count as possible error. A candidate
// is admitted (gets its own key) while fewer than Top items are admitted,
// or once the hits it certainly had (count minus error) exceed the Top-th
// largest admitted total; its certain hits and values move then from
// `_other` to its key (a negative delta on `_other`). Admitted items are
// counted exactly from then on. At most MaxKeys items are ever admitted per
// instance, which bounds the tree.
package topn

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/canopy-dev/canopy/pipes-src/internal/strtab"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

// Other is the name of the key that sums the items without their own.
const Other = "_other"

// Set is one top-N. Values are W numbers per hit (hits is always the
// first; e.g. bytes the second), each written under its own prefix.
type Set struct {
	top, maxKeys, capacity, maxLen int
	prefixes                       [][]string

	// ≥ 0: admitted item; < 0: candidate -(i+1). Not a Go map: a map
	// access per item was most of the hosts pipe's cost in WASM.
	index *strtab.Map

	// admitted items
	keys   [][]pipe.Key // per item, one per prefix
	delta  [][]float64  // per item, values since the last Flush
	total  []float64    // per item, hits since admission (for the bar)
	used   []int32
	bar    float64 // hits a candidate needs to be admitted
	recalc int

	// candidates (space-saving); heap is a min-heap of them by count. The
	// count lives in the heap entry, not the candidate, so a sift step reads
	// one array: sifting was ~40 % of the hosts pipe's cost in WASM.
	cands []cand
	heap  []hent

	other     []float64 // values to add to _other at Flush
	otherKeys []pipe.Key
}

type cand struct {
	name string // aliases buf
	buf  []byte // the name's bytes, reused when the counter is replaced
	hash uint64 // index.Hash(name)
	err  float64
	vals []float64 // values since this item was monitored
	pos  int32     // in heap
}

// hent is a heap entry: candidate c's count.
type hent struct {
	count float64
	c     int32
}

// New returns a Set writing prefix..., name for each prefix. top items are
// kept, at most maxKeys ever get keys, capacity candidates are counted,
// names are cut at maxLen bytes.
func New(top, maxKeys, capacity, maxLen int, prefixes ...[]string) *Set {
	top = max(top, 1)
	s := &Set{
		top: top, maxKeys: max(maxKeys, top), capacity: max(capacity, 1), maxLen: max(maxLen, 1),
		prefixes: prefixes, index: strtab.New(min(capacity+maxKeys, 1024)), // grows; capacity may be huge (exact configs)
		other: make([]float64, len(prefixes)),
	}
	for _, p := range prefixes {
		s.otherKeys = append(s.otherKeys, pipe.NewKey(append(slices.Clone(p), Other)...))
	}
	return s
}

// Len is the number of admitted items.
func (s *Set) Len() int { return len(s.keys) }

// Add counts hits of item name with vals (len W-1: the values beyond hits).
// name may alias a batch: it is copied when kept.
func (s *Set) Add(name string, hits float64, vals ...float64) {
	if len(name) > s.maxLen {
		name = name[:s.maxLen]
	}
	h := s.index.Hash(name)
	i, ok := s.index.GetHash(h, name)
	if ok && i >= 0 {
		s.addAdmitted(i, hits, vals)
		return
	}
	var c int32
	if ok {
		c = -i - 1
		s.heap[s.cands[c].pos].count += hits
	} else {
		c = s.monitor(name, h, hits)
	}
	cd := &s.cands[c]
	cd.vals[0] += hits
	for j, v := range vals {
		cd.vals[j+1] += v
	}
	s.other[0] += hits
	for j, v := range vals {
		s.other[j+1] += v
	}
	s.fix(int(cd.pos))
	if len(s.keys) < s.maxKeys && (len(s.keys) < s.top || s.heap[cd.pos].count-cd.err > s.bar) {
		s.admit(c)
	}
}

func (s *Set) addAdmitted(i int32, hits float64, vals []float64) {
	d := s.delta[i]
	if d[0] == 0 {
		s.used = append(s.used, i)
	}
	d[0] += hits
	for j, v := range vals {
		d[j+1] += v
	}
	s.total[i] += hits
}

// monitor starts counting name, replacing the smallest candidate when the
// sketch is full. A replaced counter keeps its name buffer: in Go's WASM
// build an allocation costs ~0.4 µs, and most hosts, referrers and paths
// of a batch replace a counter.
func (s *Set) monitor(name string, h uint64, hits float64) int32 {
	w := len(s.prefixes)
	if len(s.cands) < s.capacity {
		c := int32(len(s.cands))
		s.cands = append(s.cands, cand{vals: make([]float64, w), pos: int32(len(s.heap)), hash: h})
		s.cands[c].setName(name)
		s.heap = append(s.heap, hent{count: hits, c: c})
		s.index.SetHash(h, s.cands[c].name, -c-1)
		return c
	}
	c := s.heap[0].c
	cd := &s.cands[c]
	s.index.DeleteHash(cd.hash, cd.name) // before the buffer is overwritten: the index holds cd.name
	cd.setName(name)
	cd.hash, cd.err = h, s.heap[0].count
	s.heap[0].count += hits
	clear(cd.vals)
	s.index.SetHash(h, cd.name, -c-1)
	return c
}

// setName copies name into the candidate's buffer (name may alias a batch).
func (cd *cand) setName(name string) {
	cd.buf = append(cd.buf[:0], name...)
	cd.name = ""
	if len(cd.buf) > 0 {
		cd.name = unsafe.String(&cd.buf[0], len(cd.buf))
	}
}

// admit gives candidate c its own key, moving its certain values from
// _other, and frees its counter.
func (s *Set) admit(c int32) {
	cd := &s.cands[c]
	// The admitted item gets its own copy: the candidate's buffer is
	// reused by whichever candidate takes its slot.
	cd.name, cd.buf = strings.Clone(cd.name), nil
	i := int32(len(s.keys))
	ks := make([]pipe.Key, len(s.prefixes))
	for j, p := range s.prefixes {
		ks[j] = pipe.NewKey(append(slices.Clone(p), cd.name)...)
	}
	s.keys = append(s.keys, ks)
	s.delta = append(s.delta, slices.Clone(cd.vals))
	s.total = append(s.total, cd.vals[0])
	s.used = append(s.used, i)
	for j, v := range cd.vals {
		s.other[j] -= v
	}
	s.index.SetHash(cd.hash, cd.name, i)
	s.removeCand(c)
	s.recalc++
	if len(s.keys) <= s.top || s.recalc >= 64 {
		s.updateBar()
	}
}

// removeCand drops candidate c, moving the last candidate into its slot.
func (s *Set) removeCand(c int32) {
	last := int32(len(s.cands) - 1)
	pos := int(s.cands[c].pos)
	// take c out of the heap: the heap's last into its place, shrink, fix
	hl := len(s.heap) - 1
	s.heap[pos] = s.heap[hl]
	s.cands[s.heap[pos].c].pos = int32(pos)
	s.heap = s.heap[:hl]
	if pos < hl {
		s.fix(pos)
	}
	if c != last {
		s.cands[c] = s.cands[last]
		s.heap[s.cands[c].pos].c = c
		s.index.SetHash(s.cands[c].hash, s.cands[c].name, -c-1)
	}
	s.cands = s.cands[:last]
}

// updateBar sets the hits a candidate needs: the top-th largest admitted
// total once top items are admitted.
func (s *Set) updateBar() {
	s.recalc = 0
	if len(s.total) < s.top {
		s.bar = 0
		return
	}
	t := slices.Clone(s.total)
	slices.Sort(t)
	s.bar = t[len(t)-s.top]
}

// Flush emits the values since the last Flush.
func (s *Set) Flush(out *pipe.Out) {
	for _, i := range s.used {
		d := s.delta[i]
		for j := range d {
			if d[j] != 0 {
				out.EmitKey(&s.keys[i][j], d[j])
			}
			d[j] = 0
		}
	}
	s.used = s.used[:0]
	for j, v := range s.other {
		if v != 0 {
			out.EmitKey(&s.otherKeys[j], v)
		}
		s.other[j] = 0
	}
	if s.recalc > 0 {
		s.updateBar()
	}
}

// fix restores the heap after the count at position i changed: up, then
// down, moving the entry through a hole (the same places as swapping it).
func (s *Set) fix(i int) {
	h := s.heap
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !(e.count < h[p].count) {
			break
		}
		h[i] = h[p]
		s.cands[h[i].c].pos = int32(i)
		i = p
	}
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].count < h[l].count {
			m = r
		}
		if !(h[m].count < e.count) {
			break
		}
		h[i] = h[m]
		s.cands[h[i].c].pos = int32(i)
		i = m
	}
	h[i] = e
	s.cands[e.c].pos = int32(i)
}
