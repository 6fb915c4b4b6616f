//go:build !wasm

package pipeabi

import (
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
}

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
	t.vals, t.long = t.vals[:0], false
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
				prev, pd = s, t.index(s, uint32(xxhash.Sum64String(s)))
			}
			putU32(out, 4*i, int(pd))
		}
	default:
		// The field's place in a Record: no switch per record.
		off := uintptr(0)
		if len(recs) > 0 {
			off = uintptr(unsafe.Pointer(recs[0].strField(k))) - uintptr(unsafe.Pointer(&recs[0]))
		}
		for i := range recs {
			// Neighbouring lines often share a value (a method, a
			// second's $time_local): no hash then.
			if s := *(*string)(unsafe.Add(unsafe.Pointer(&recs[i]), off)); i == 0 || s != prev {
				prev, pd = s, t.index(s, uint32(xxhash.Sum64String(s)))
			}
			putU32(out, 4*i, int(pd))
		}
	}
	if t.long {
		clear(t.vals)
		return dst[:idx], false
	}
	return t.appendValues(dst), true
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
