// Package codegen measures how much of a Go pipe's WASM cost is Go's wasm
// code generator, how much wazero's compiler and how much sdk/host's calls
// and loop checks. Four kernels that dominate the built-in pipes (counting
// by dictionary index, hashing short strings into an open-addressing table,
// a space-saving top-N heap, float64 histogram buckets) exist twice: here in
// Go and in c/kernels.c, the same algorithm on the same generated data (the
// checksums must agree). TestFloor builds them natively and for wasm (Go:
// GOOS=wasip1 via ./guest; C: clang-14 --target=wasm32-wasi), runs every
// variant in alternating rounds and prints CPU ns per record, medians:
//
//	CODEGEN=1 ROUNDS=9 go test ./bench/codegen -run TestFloor -v
//
// It skips unless CODEGEN is set, and drops the C variants when clang-14 or
// wasm-ld-14 is missing. RATIONALE.md ("Why Go pipes cost N× native in
// WASM") has the figures.
package codegen

import "math"

// Kernel numbers, shared with ./guest and c/kernels.c.
const (
	Dict    = iota // counts[idx[i]]++ and a float sum
	Hash           // FNV-1a of short strings, open-addressing table
	Heap           // space-saving top-N: a binary min-heap sift per record
	Hist           // histogram bucket of a float64 by comparisons
	Kernels        // how many
)

// Name returns kernel k's name.
func Name(k int) string {
	switch k {
	case Dict:
		return "dict"
	case Hash:
		return "hash"
	case Heap:
		return "heap"
	case Hist:
		return "hist"
	}
	return "?"
}

// Sizes, the same in c/kernels.c.
const (
	N         = 8192 // records per call: a batch
	Batches   = 8    // distinct batches, taken in turn
	dictSize  = 512  // distinct dictionary indexes
	pool      = 1024 // distinct strings
	tableSize = 4096 // hash slots (a power of 2)
	idSpace   = 8192 // top-N ids
	topK      = 128  // top-N size
	buckets   = 20   // histogram bounds
)

// rng is splitmix64, so Go and C generate the same data.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rng) float() float64 { return float64(r.next()>>11) * (1.0 / (1 << 53)) }

// skewed returns a value in [0, n), small ones more often.
func (r *rng) skewed(n uint64) uint64 {
	a := r.next() % n
	b := r.next() % n
	return a * b / n
}

type slot struct {
	h          uint64
	off, n, ct uint32
}

type entry struct{ count, id uint32 }

// batch is one call's input.
type batch struct {
	idx  []uint32  // dict: index per record
	vals []float64 // dict, hist: a value per record
	strs []byte    // hash: the records' strings, concatenated
	offs []uint32  // hash: N+1 offsets into strs
	ids  []uint32  // heap: id per record
}

// State holds the kernels' input and tables. Calls take the batches in
// turn: the same batch every call would let the branch predictor learn
// it, which flatters native code most.
type State struct {
	batches [Batches]batch
	counts  []uint64  // dict, hist
	slots   []slot    // hash
	heap    []entry   // heap: a min-heap by count, len ≤ topK
	pos     []int32   // heap: index of an id in heap, -1 when absent
	bounds  []float64 // hist: upper bounds (le), ascending
}

// New generates the batches from seed.
func New(seed uint64) *State {
	r := rng(seed)
	s := &State{
		counts: make([]uint64, dictSize),
		slots:  make([]slot, tableSize),
		heap:   make([]entry, 0, topK),
		pos:    make([]int32, idSpace),
		bounds: make([]float64, buckets),
	}
	// Host names: 7–23 bytes of [a-z.].
	var names [pool][]byte
	for i := range names {
		n := 7 + r.next()%17
		for range n {
			c := byte('a' + r.next()%27)
			if c > 'z' {
				c = '.'
			}
			names[i] = append(names[i], c)
		}
	}
	for i := range s.batches {
		b := &s.batches[i]
		*b = batch{idx: make([]uint32, N), vals: make([]float64, N), offs: make([]uint32, N+1), ids: make([]uint32, N)}
		for i := range N {
			b.idx[i] = uint32(r.skewed(dictSize))
			u := r.float()
			b.vals[i] = u * u * u * u * 100
			b.ids[i] = uint32(r.skewed(idSpace))
		}
		for i := range N {
			b.strs = append(b.strs, names[r.skewed(pool)]...)
			b.offs[i+1] = uint32(len(b.strs))
		}
	}
	for i := range s.pos {
		s.pos[i] = -1
	}
	b := 0.001
	for i := range s.bounds {
		s.bounds[i] = b
		b *= 2
	}
	return s
}

// Run runs kernel k over batch b (mod Batches) and returns its checksum.
func (s *State) Run(k, b int) uint64 {
	in := &s.batches[b%Batches]
	switch k {
	case Dict:
		return s.dict(in)
	case Hash:
		return s.hash(in)
	case Heap:
		return s.topN(in)
	case Hist:
		return s.hist(in)
	}
	return 0
}

func fold(h, v uint64) uint64 { return (h ^ v) * 1099511628211 }

func (s *State) dict(in *batch) uint64 {
	counts := s.counts[:dictSize]
	clear(counts)
	sum := 0.0
	vals := in.vals
	for i, x := range in.idx {
		counts[x]++
		sum += vals[i]
	}
	h := math.Float64bits(sum)
	for _, c := range counts {
		h = fold(h, c)
	}
	return h
}

func (s *State) hash(in *batch) uint64 {
	clear(s.slots)
	const mask = tableSize - 1
	for i := range N {
		off, end := in.offs[i], in.offs[i+1]
		str := in.strs[off:end]
		h := uint64(14695981039346656037)
		for _, c := range str {
			h = (h ^ uint64(c)) * 1099511628211
		}
		for j := h & mask; ; j = (j + 1) & mask {
			sl := &s.slots[j]
			if sl.ct == 0 {
				*sl = slot{h: h, off: off, n: end - off, ct: 1}
				break
			}
			if sl.h == h && string(in.strs[sl.off:sl.off+sl.n]) == string(str) {
				sl.ct++
				break
			}
		}
	}
	h := uint64(0)
	for _, sl := range s.slots {
		h = fold(h, uint64(sl.ct))
	}
	return h
}

func (s *State) topN(in *batch) uint64 {
	for _, e := range s.heap {
		s.pos[e.id] = -1
	}
	s.heap = s.heap[:0]
	for _, id := range in.ids {
		switch p := s.pos[id]; {
		case p >= 0:
			s.heap[p].count++
			s.down(int(p))
		case len(s.heap) < topK:
			s.heap = append(s.heap, entry{count: 1, id: id})
			s.pos[id] = int32(len(s.heap) - 1)
			s.up(len(s.heap) - 1)
		default: // replace the minimum, counting from its count
			s.pos[s.heap[0].id] = -1
			s.heap[0] = entry{count: s.heap[0].count + 1, id: id}
			s.pos[id] = 0
			s.down(0)
		}
	}
	h := uint64(0)
	for _, e := range s.heap {
		h = fold(fold(h, uint64(e.count)), uint64(e.id))
	}
	return h
}

func (s *State) down(i int) {
	h := s.heap
	for {
		m := 2*i + 1
		if m >= len(h) {
			return
		}
		if r := m + 1; r < len(h) && h[r].count < h[m].count {
			m = r
		}
		if h[i].count <= h[m].count {
			return
		}
		h[i], h[m] = h[m], h[i]
		s.pos[h[i].id] = int32(i)
		s.pos[h[m].id] = int32(m)
		i = m
	}
}

func (s *State) up(i int) {
	h := s.heap
	for i > 0 {
		p := (i - 1) / 2
		if h[p].count <= h[i].count {
			return
		}
		h[i], h[p] = h[p], h[i]
		s.pos[h[i].id] = int32(i)
		s.pos[h[p].id] = int32(p)
		i = p
	}
}

func (s *State) hist(in *batch) uint64 {
	counts := s.counts[:buckets+1]
	clear(counts)
	bounds := s.bounds
	for _, v := range in.vals {
		b := 0
		for b < len(bounds) && v > bounds[b] {
			b++
		}
		counts[b]++
	}
	h := uint64(0)
	for _, c := range counts {
		h = fold(h, c)
	}
	return h
}
