//go:build !wasm

package pipeabi

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/wire"
	"github.com/cespare/xxhash/v2"
)

// SharedColumns is Columns with a faster dictionary for str columns (the
// host's hot path: daemon/pipes). It is a type of its own in a file the
// guests do not build: the guests build Encoder and Columns (Layout.
// AppendBatch stays reachable through reflection) and the positions in
// batch.go, so changing those, or declaring a type they see, changes
// every built-in .wasm (RATIONALE.md, "Why pipeabi has two Columns").
// The zero SharedColumns is ready; Reset it for each new set of records.
// Not safe for concurrent use.
type SharedColumns struct {
	enc  hostEncoder
	recs []Record
	cols map[string]*cachedCol // by field name
	gen  uint64
}

// Reset starts a new set of records, as Columns.Reset.
func (c *SharedColumns) Reset(recs []Record) {
	c.recs = recs
	c.gen++
}

// AppendBatch appends the records as one batch laid out by l; the same
// bytes as Encoder.AppendBatch.
func (c *SharedColumns) AppendBatch(dst []byte, l *Layout) []byte {
	if c.cols == nil {
		c.cols = make(map[string]*cachedCol)
	}
	base := len(dst)
	dst = wire.AppendU32(dst, uint32(len(c.recs)))
	for i, k := range l.kinds {
		dst = pad8(dst, base)
		col := c.cols[l.names[i]]
		if col == nil {
			col = &cachedCol{}
			c.cols[l.names[i]] = col
		}
		if col.gen != c.gen {
			name := ""
			if k == kindVar {
				name = l.varName(i)
			}
			col.b, col.gen = c.enc.appendColumn(col.b[:0], 0, k, name, c.recs), c.gen
		}
		dst = append(dst, col.b...)
	}
	return dst
}

// hostEncoder is SharedColumns' Encoder, with its own dictionary table
// for str columns in place of Encoder's map.
type hostEncoder struct {
	Encoder
	dict dictTable
}

func (e *hostEncoder) appendColumn(dst []byte, base int, k fieldKind, name string, recs []Record) []byte {
	if wireOf(k) == wireStr {
		if b, ok := e.dict.appendDict(dst, recs, k, name); ok {
			return b
		}
		// Values whose hashes cluster (crafted lines, say) would make the
		// table's probes quadratic: Encoder's map has a random seed.
		dst = dst[:len(dst):len(dst)]
	}
	return e.Encoder.appendColumn(dst, base, k, name, recs)
}

// dictTable finds each record's index into a string column's distinct
// values, instead of a Go map cleared per column (~18 % of a replay's CPU
// with fifteen pipes): an open-addressing table sized for the batch, whose
// slots count as empty unless stamped with the current column's
// generation (no clearing), probed by XXH64, which path and ua_class
// already have (the record keeps it for path_hash and ua_class_hash).
type dictTable struct {
	slots []dictSlot // len a power of two, at least twice the records
	gen   uint32     // stamp of the column being encoded
	vals  []string   // distinct values in order of first use
	long  bool       // a probe went past maxProbe
	small bool       // vals are not in slots yet (lookup)
	seed  maphash.Seed
	memo  [1 << memoBits]memoSlot
}

// memoSlot remembers the index of the value at address p, n bytes long,
// in the column stamped gen (user_agent: see appendDict).
type memoSlot struct {
	p      uintptr
	n      int
	d, gen uint32
}

const (
	memoBits = 10
	// sameSample is how many records show whether neighbours share values.
	sameSample = 64
	smallDict  = 8
)

// dictSlot is empty unless gen is its table's; d indexes the table's
// vals, and hash (the low bits of the value's) saves most compares.
type dictSlot struct{ gen, hash, d uint32 }

// maxProbe bounds the slots one lookup visits (at load <= 1/2 a lookup
// visits ~1.5 on average); past it the column goes to Encoder's map.
const maxProbe = 64

// reset starts a column of n records.
func (t *dictTable) reset(n int) {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if len(t.slots) < size {
		t.slots, t.gen = make([]dictSlot, size), 0
	}
	if t.gen++; t.gen == 0 { // wrapped: stale stamps could match
		clear(t.slots)
		t.gen = 1
	}
	t.vals, t.long, t.small = t.vals[:0], false, true
	if t.seed == (maphash.Seed{}) {
		t.seed = maphash.MakeSeed()
	}
}

// appendDict appends the str column of kind k (variable varName for
// kindVar) of recs as Encoder.appendDict does, or reports false (dst
// unchanged up to its length) when the table's probes ran long.
func (t *dictTable) appendDict(dst []byte, recs []Record, k fieldKind, varName string) ([]byte, bool) {
	t.reset(len(recs))
	idx := len(dst)
	dst = reserve(dst, 4*len(recs))
	out := dst[idx : idx+4*len(recs)]
	var prev string
	var pd uint32
	switch {
	case k == kindPath || k == kindUAClass:
		flag := hashPath
		if k == kindUAClass {
			flag = hashClass
		}
		for i := range recs {
			r := &recs[i]
			s, h := &r.Path, &r.PathHash
			if k == kindUAClass {
				s, h = &r.AgentClass, &r.AgentClassHash
			}
			if r.hashed&flag == 0 {
				*h, r.hashed = xxhash.Sum64String(*s), r.hashed|flag
			}
			putU32(out, 4*i, int(t.index(*s, uint32(*h))))
		}
	case k == kindVar:
		for i := range recs {
			if s := recs[i].Var(varName); i == 0 || s != prev {
				prev, pd = s, t.lookup(s)
			}
			putU32(out, 4*i, int(pd))
		}
	case k == kindUserAgent:
		// AgentCache.Fill points a record's agent at the cache's copy, so
		// a repeat is found by its address: no hash of ~130 bytes, no
		// compare. An address stands for one value only while the
		// records hold it: hence the stamp of this column.
		for i := range recs {
			s := recs[i].UserAgent
			p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
			m := &t.memo[(p*0x9e3779b97f4a7c15)>>(64-memoBits)]
			if m.gen != t.gen || m.p != p || m.n != len(s) {
				*m = memoSlot{p, len(s), t.lookup(s), t.gen}
			}
			putU32(out, 4*i, int(m.d))
		}
	default:
		// The field's place in a Record: no switch per record.
		off := uintptr(0)
		if len(recs) > 0 {
			off = uintptr(unsafe.Pointer(recs[0].strField(k))) - uintptr(unsafe.Pointer(&recs[0]))
		}
		// Neighbouring lines often share a value (a method, a second's
		// $time_local): no hash then. Where they seldom do (paths,
		// addresses) the compare is dropped after a sample.
		same, hits := true, 0
		for i := range recs {
			s := *(*string)(unsafe.Add(unsafe.Pointer(&recs[i]), off))
			if same && i > 0 {
				if s == prev {
					putU32(out, 4*i, int(pd))
					hits++
					continue
				}
				same = i < sameSample || hits >= sameSample/4
			}
			prev, pd = s, t.lookup(s)
			putU32(out, 4*i, int(pd))
		}
	}
	if t.long {
		clear(t.vals)
		return dst[:idx], false
	}
	return t.appendValues(dst), true
}

// strHash is the table's hash of a value: the runtime's (AES-based where
// the CPU has it, with the table's random seed) past 16 bytes; a shorter
// one (an address, a host, a method) is read as two overlapping words
// mixed by one 128-bit multiply, a third of XXH64's cost there.
func (t *dictTable) strHash(s string) uint32 {
	n := len(s)
	if n > 16 {
		return uint32(maphash.String(t.seed, s))
	}
	var a, b uint64
	if n > 0 {
		p := unsafe.Slice(unsafe.StringData(s), n)
		switch {
		case n >= 8:
			a, b = binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[n-8:])
		case n >= 4:
			a, b = uint64(binary.LittleEndian.Uint32(p)), uint64(binary.LittleEndian.Uint32(p[n-4:]))
		default:
			a, b = uint64(p[0])<<16|uint64(p[n>>1])<<8|uint64(p[n-1]), 0
		}
	}
	hi, lo := bits.Mul64(a^0xa0761d6478bd642f, b^0xe7037ed1a0b428db^uint64(n))
	return uint32(hi ^ lo)
}

// lookup is index for a value without a hash: while the column has at
// most smallDict distinct values (methods, protocols, hosts) it scans
// them, as a small Go map does, which beats hashing a referer.
func (t *dictTable) lookup(s string) uint32 {
	if !t.small {
		return t.index(s, t.strHash(s))
	}
	for d, v := range t.vals {
		if v == s {
			return uint32(d)
		}
	}
	if len(t.vals) < smallDict {
		t.vals = append(t.vals, s)
		return uint32(len(t.vals) - 1)
	}
	// One value too many: into the table with them.
	t.small = false
	vals := t.vals
	t.vals = vals[:0]
	for _, v := range vals {
		t.index(v, t.strHash(v))
	}
	return t.index(s, t.strHash(s))
}

// index returns s's index, adding it as the next distinct value if new.
func (t *dictTable) index(s string, h uint32) uint32 {
	mask := uint32(len(t.slots) - 1)
	for i, n := h&mask, 0; ; i, n = (i+1)&mask, n+1 {
		sl := &t.slots[i]
		if sl.gen != t.gen || n == maxProbe {
			if n == maxProbe {
				t.long = true
			}
			d := uint32(len(t.vals))
			*sl = dictSlot{t.gen, h, d}
			t.vals = append(t.vals, s)
			return d
		}
		if sl.hash == h && t.vals[sl.d] == s {
			return sl.d
		}
	}
}

// appendValues appends the dictionary after the indexes: the count, the
// offsets and the bytes of the distinct values.
func (t *dictTable) appendValues(dst []byte) []byte {
	dst = wire.AppendU32(dst, uint32(len(t.vals)))
	offs := len(dst)
	dst = reserve(dst, 4*(len(t.vals)+1))
	size := 0
	for j, s := range t.vals {
		putU32(dst, offs+4*j, size)
		size += len(s)
	}
	putU32(dst, offs+4*len(t.vals), size)
	data := len(dst)
	dst = reserve(dst, size)
	for _, s := range t.vals {
		data += copy(dst[data:], s)
	}
	clear(t.vals) // drop references to the records' strings
	return dst
}
