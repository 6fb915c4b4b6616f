package pipeabi

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/wire"
	"github.com/cespare/xxhash/v2"
)

// Record batches are column-major (README.md, "Record batch"): after the
// record count comes one column per manifest field, each starting on an
// 8-byte boundary. A guest then reads a numeric column in place as a Go
// slice and a string column through an offset table, instead of decoding
// field by field, record by record — which in Go's WASM build cost ~100 ns
// per field, more than most pipes' own work.

// MaxBatchRecords bounds the record count a batch header may claim.
const MaxBatchRecords = 1 << 24

// colWire is how a field's column is laid out.
type colWire uint8

const (
	wireI64  colWire = iota // n × i64
	wireF64                 // n × f64
	wireStr                 // n × u32 dictionary index, u32 d, (d+1) × u32 byte offsets, the bytes
	wireList                // (n+1) × u32 element offsets, pad to 8, then the f64s
	wireUA                  // (n+1) × u32 byte offsets, then the bytes; each value is list<product> list<str>
)

func wireOf(k fieldKind) colWire {
	switch k {
	case kindTime, kindStatus, kindBytes, kindUAClassHash, kindPathHash:
		return wireI64
	case kindRequestTime:
		return wireF64
	case kindUpstream:
		return wireList
	case kindUA:
		return wireUA
	}
	return wireStr
}

// AppendBatch appends recs as one record batch laid out by l, with a
// throw-away Encoder (hot paths keep one: Encoder.AppendBatch).
func (l *Layout) AppendBatch(dst []byte, recs []Record) []byte {
	var e Encoder
	return e.AppendBatch(dst, l, recs)
}

// Encoder holds what encoding a batch reuses (the dictionary of a string
// column). The zero Encoder is ready; it is not safe for concurrent use.
type Encoder struct {
	dict map[string]uint32
	vals []string
}

// AppendBatch appends recs as one record batch laid out by l. It tokenises
// a record's user agent and computes its hashes when the layout asks for
// them and that is not done yet (the record keeps them for the next pipe).
func (e *Encoder) AppendBatch(dst []byte, l *Layout, recs []Record) []byte {
	base := len(dst)
	dst = wire.AppendU32(dst, uint32(len(recs)))
	for c, k := range l.kinds {
		dst = pad8(dst, base)
		name := ""
		if k == kindVar {
			name = l.varName(c)
		}
		dst = e.appendColumn(dst, base, k, name, recs)
	}
	return dst
}

// appendColumn appends the column of field kind k (variable name for
// kindVar) at dst[base:]'s 8-aligned end. Its bytes depend on where it
// starts only modulo 8, so a column encoded once can be copied into any
// batch at an 8-aligned offset (Columns).
func (e *Encoder) appendColumn(dst []byte, base int, k fieldKind, name string, recs []Record) []byte {
	n := len(recs)
	switch wireOf(k) {
	case wireI64:
		for i := range recs {
			dst = wire.AppendI64(dst, recs[i].int64Field(k))
		}
	case wireF64:
		for i := range recs {
			dst = wire.AppendF64(dst, recs[i].RequestTime)
		}
	case wireList:
		offs := len(dst)
		dst = reserve(dst, 4*(n+1))
		total := 0
		for i := range recs {
			putU32(dst, offs+4*i, total)
			total += len(recs[i].UpstreamTimes)
		}
		putU32(dst, offs+4*n, total)
		dst = pad8(dst, base)
		for i := range recs {
			for _, v := range recs[i].UpstreamTimes {
				dst = wire.AppendF64(dst, v)
			}
		}
	case wireUA:
		offs := len(dst)
		dst = reserve(dst, 4*(n+1))
		data := len(dst)
		for i := range recs {
			putU32(dst, offs+4*i, len(dst)-data)
			dst = appendUA(dst, &recs[i])
		}
		putU32(dst, offs+4*n, len(dst)-data)
	case wireStr:
		dst = e.appendDict(dst, recs, k, name)
	}
	return dst
}

// Columns encodes the columns of one set of records at most once each and
// assembles any layout's batch from them: with fifteen pipes reading
// overlapping fields (path, status, remote_addr…), encoding each pipe's
// batch on its own built the same string dictionaries up to five times,
// ~17 % of a replay's CPU. The zero Columns is ready; Reset it for each
// new set of records. Not safe for concurrent use.
type Columns struct {
	enc  Encoder
	recs []Record
	cols map[string]*cachedCol // by field name
	gen  uint64
}

type cachedCol struct {
	b   []byte
	gen uint64 // the Reset it was encoded for
}

// Reset starts a new set of records (kept until the next Reset; their
// user agents are tokenised and hashes computed in place when a layout
// asks, as Encoder.AppendBatch does).
func (c *Columns) Reset(recs []Record) {
	c.recs = recs
	c.gen++
}

// AppendBatch appends the records as one batch laid out by l; the same
// bytes as Encoder.AppendBatch.
func (c *Columns) AppendBatch(dst []byte, l *Layout) []byte {
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

// appendDict appends a string column dictionary-encoded: one index per
// record into the column's distinct values, in order of first use. Log
// fields repeat (paths, agents, methods), so a pipe counts by a small
// integer and looks each distinct string up once per batch: in Go's WASM
// build a hash lookup per record cost more than the rest of a pipe.
func (e *Encoder) appendDict(dst []byte, recs []Record, k fieldKind, varName string) []byte {
	if e.dict == nil {
		e.dict = make(map[string]uint32)
	}
	clear(e.dict)
	e.vals = e.vals[:0]
	idx := len(dst)
	dst = reserve(dst, 4*len(recs))
	for i := range recs {
		s := recs[i].stringField(k, varName)
		d, ok := e.dict[s]
		if !ok {
			d = uint32(len(e.vals))
			e.dict[s] = d
			e.vals = append(e.vals, s)
		}
		putU32(dst, idx+4*i, int(d))
	}
	dst = wire.AppendU32(dst, uint32(len(e.vals)))
	offs := len(dst)
	dst = reserve(dst, 4*(len(e.vals)+1))
	data := len(dst)
	for j, s := range e.vals {
		putU32(dst, offs+4*j, len(dst)-data)
		dst = append(dst, s...)
	}
	putU32(dst, offs+4*len(e.vals), len(dst)-data)
	clear(e.vals) // drop references to the records' strings
	return dst
}

func (r *Record) int64Field(k fieldKind) int64 {
	switch k {
	case kindTime:
		return r.Time
	case kindStatus:
		return int64(r.Status)
	case kindBytes:
		return r.Bytes
	case kindUAClassHash:
		if r.hashed&hashClass == 0 {
			r.AgentClassHash, r.hashed = xxhash.Sum64String(r.AgentClass), r.hashed|hashClass
		}
		return int64(r.AgentClassHash)
	case kindPathHash:
		if r.hashed&hashPath == 0 {
			r.PathHash, r.hashed = xxhash.Sum64String(r.Path), r.hashed|hashPath
		}
		return int64(r.PathHash)
	}
	return 0
}

func (r *Record) stringField(k fieldKind, varName string) string {
	if k == kindVar {
		return r.Var(varName)
	}
	if p := r.strField(k); p != nil {
		return *p
	}
	return ""
}

// strField returns the Record field of a str kind (nil for other kinds).
func (r *Record) strField(k fieldKind) *string {
	switch k {
	case kindMethod:
		return &r.Method
	case kindPath:
		return &r.Path
	case kindQuery:
		return &r.Query
	case kindProtocol:
		return &r.Protocol
	case kindUserAgent:
		return &r.UserAgent
	case kindReferer:
		return &r.Referer
	case kindRemoteAddr:
		return &r.RemoteAddr
	case kindHost:
		return &r.Host
	case kindUABrowser:
		return &r.Agent.Browser
	case kindUABrowserMajor:
		return &r.Agent.BrowserMajor
	case kindUAOS:
		return &r.Agent.OS
	case kindUAOSVersion:
		return &r.Agent.OSVersion
	case kindUAVendor:
		return &r.Agent.Vendor
	case kindUABot:
		return &r.Agent.Bot
	case kindUAClass:
		return &r.AgentClass
	}
	return nil
}

func appendUA(dst []byte, r *Record) []byte {
	if !r.UAParsed {
		r.UA = TokenizeUA(r.UA, r.UserAgent)
		r.UAParsed = true
	}
	dst = wire.AppendU32(dst, uint32(len(r.UA.Products)))
	for _, p := range r.UA.Products {
		dst = wire.AppendString(dst, p.Name)
		dst = wire.AppendString(dst, p.Version)
	}
	dst = wire.AppendU32(dst, uint32(len(r.UA.Comments)))
	for _, c := range r.UA.Comments {
		dst = wire.AppendString(dst, c)
	}
	return dst
}

// pad8 appends zero bytes until dst[base:] is a multiple of 8 long.
func pad8(dst []byte, base int) []byte {
	for (len(dst)-base)%8 != 0 {
		dst = append(dst, 0)
	}
	return dst
}

// reserve extends dst by m bytes the caller overwrites.
func reserve(dst []byte, m int) []byte { return slices.Grow(dst, m)[:len(dst)+m] }

func putU32(b []byte, off, v int) { binary.LittleEndian.PutUint32(b[off:], uint32(v)) }

// Batch is a decoded record batch: column views into the input buffer,
// valid until the buffer is reused (the end of the call).
type Batch struct {
	n    int
	l    *Layout
	cols []column
	plan rowPlan // of the last Record call
}

type column struct {
	i64  []int64
	f64  []float64
	idx  []uint32 // str: dictionary index per record
	offs []uint32
	data []byte
	// Copies for a host that is not little-endian or a misaligned buffer.
	ownI []int64
	ownF []float64
	ownO []uint32
	ownX []uint32
}

// DecodeBatch reads a record batch laid out by l into b, without copying
// on little-endian targets when in is 8-byte aligned.
func (l *Layout) DecodeBatch(in []byte, b *Batch) error {
	if len(in) < 4 {
		return fmt.Errorf("malformed record batch: %d bytes, want at least a 4-byte count", len(in))
	}
	n := int(wire.LoadU32(in, 0))
	if n > MaxBatchRecords || len(l.kinds) > 0 && 4*n > len(in) {
		return fmt.Errorf("malformed record batch: %d records cannot fit in %d bytes", n, len(in))
	}
	b.n, b.l = n, l
	b.cols = slices.Grow(b.cols[:0], len(l.kinds))[:len(l.kinds)]
	off := 4
	for c, k := range l.kinds {
		col := &b.cols[c]
		off = (off + 7) &^ 7
		var err error
		switch wireOf(k) {
		case wireI64, wireF64:
			var raw []byte
			if raw, off, err = take(in, off, 8*n); err == nil {
				if wireOf(k) == wireI64 {
					col.i64 = view(raw, &col.ownI, decI64)
				} else {
					col.f64 = view(raw, &col.ownF, decF64)
				}
			}
		case wireStr:
			var raw []byte
			if raw, off, err = take(in, off, 4*n); err != nil {
				break
			}
			col.idx = view(raw, &col.ownX, binary.LittleEndian.Uint32)
			if raw, off, err = take(in, off, 4); err != nil {
				break
			}
			d := int(wire.LoadU32(raw, 0))
			if d > n {
				err = fmt.Errorf("%d distinct values for %d records", d, n)
				break
			}
			if col.offs, off, err = takeOffsets(in, off, d, &col.ownO); err != nil {
				break
			}
			col.data, off, err = take(in, off, int(col.offs[d]))
			if err == nil {
				err = checkIndexes(col.idx, d)
			}
		case wireUA, wireList:
			if col.offs, off, err = takeOffsets(in, off, n, &col.ownO); err != nil {
				break
			}
			size := int(col.offs[n])
			var raw []byte
			if wireOf(k) != wireList {
				col.data, off, err = take(in, off, size)
				break
			}
			off = (off + 7) &^ 7
			if raw, off, err = take(in, off, 8*size); err == nil {
				col.f64 = view(raw, &col.ownF, decF64)
			}
		}
		if err != nil {
			return fmt.Errorf("malformed record batch: column %d (%s): %w", c, l.names[c], err)
		}
	}
	if off < len(in) {
		return fmt.Errorf("malformed record batch: %d trailing bytes", len(in)-off)
	}
	return nil
}

// Decoders of one little-endian value, for view's copying path.
func decI64(b []byte) int64   { return int64(binary.LittleEndian.Uint64(b)) }
func decF64(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }

func take(in []byte, off, size int) ([]byte, int, error) {
	if off > len(in) || size > len(in)-off {
		return nil, off, wire.ErrShort
	}
	return in[off : off+size], off + size, nil
}

// takeOffsets reads an offset table of n+1 entries at off and checks it.
func takeOffsets(in []byte, off, n int, own *[]uint32) ([]uint32, int, error) {
	raw, off, err := take(in, off, 4*(n+1))
	if err != nil {
		return nil, off, err
	}
	offs := view(raw, own, binary.LittleEndian.Uint32)
	return offs, off, checkOffsets(offs)
}

// str returns record i's value of a str column.
func (c *column) str(i int) string { return dictValue(c.offs, c.data, c.idx[i]) }

// dictValue returns distinct value d of a str column: data[offs[d]:offs[d+1]]
// in place.
func dictValue(offs []uint32, data []byte, d uint32) string {
	a, e := offs[d], offs[d+1]
	if a == e {
		return ""
	}
	return unsafe.String(&data[a], int(e-a))
}

// checkIndexes makes every dictionary index valid once, so Strings.At
// needs no check of its own.
func checkIndexes(idx []uint32, d int) error {
	for i, x := range idx {
		if int(x) >= d {
			return fmt.Errorf("record %d uses value %d of %d", i, x, d)
		}
	}
	return nil
}

func checkOffsets(offs []uint32) error {
	if offs[0] != 0 {
		return fmt.Errorf("first offset is %d, want 0", offs[0])
	}
	for i := 1; i < len(offs); i++ {
		if offs[i] < offs[i-1] {
			return fmt.Errorf("offset %d (%d) is below offset %d (%d)", i, offs[i], i-1, offs[i-1])
		}
	}
	return nil
}

// view returns raw as a []T in place when the target is little-endian and
// raw is aligned for T, else decoded into *own (reused).
func view[T int64 | float64 | uint32](raw []byte, own *[]T, dec func([]byte) T) []T {
	size := int(unsafe.Sizeof(T(0)))
	n := len(raw) / size
	if n == 0 {
		return nil
	}
	if wire.NativeLittleEndian && uintptr(unsafe.Pointer(&raw[0]))%uintptr(size) == 0 {
		return unsafe.Slice((*T)(unsafe.Pointer(&raw[0])), n)
	}
	s := (*own)[:0]
	for i := 0; i < n; i++ {
		s = append(s, dec(raw[i*size:]))
	}
	*own = s
	return s
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return b.n }

// column returns the column of field, which must be in the manifest with
// wire type w. Asking for anything else is a bug in the pipe: it panics
// with a message saying so (the SDK turns the panic into a failed batch).
func (b *Batch) column(field string, w colWire) *column {
	for c, name := range b.l.names {
		if name == field {
			if wireOf(b.l.kinds[c]) != w {
				break
			}
			return &b.cols[c]
		}
	}
	panic(fmt.Sprintf("pipe reads field %q as a %s column, but its manifest does not list it or it has another type (see the field table of sdk/pipeabi/README.md)", field, wireNames[w]))
}

var wireNames = [...]string{wireI64: "i64", wireF64: "f64", wireStr: "str", wireList: "list<f64>", wireUA: "ua"}

// Int64s returns the column of an i64 field (time, status, bytes,
// ua_class_hash, path_hash), one value per record, in place.
func (b *Batch) Int64s(field string) []int64 { return b.column(field, wireI64).i64[:b.n:b.n] }

// Float64s returns the column of an f64 field (request_time).
func (b *Batch) Float64s(field string) []float64 { return b.column(field, wireF64).f64[:b.n:b.n] }

// Strings returns the column of a str field (path, method, ua_class,
// var:NAME, …).
func (b *Batch) Strings(field string) Strings {
	c := b.column(field, wireStr)
	return Strings{idx: c.idx[:b.n:b.n], offs: c.offs, data: c.data}
}

// Float64Lists returns the column of a list<f64> field
// (upstream_response_time).
func (b *Batch) Float64Lists(field string) Float64Lists {
	c := b.column(field, wireList)
	return Float64Lists{offs: c.offs, vals: c.f64}
}

// Strings is a dictionary-encoded string column: record i has distinct
// value Indexes()[i]. Count by the index and look each distinct value up
// once (Distinct, Value) instead of hashing a string per record. Its
// strings alias the batch: copy what you keep past the call
// (strings.Clone).
type Strings struct {
	idx  []uint32
	offs []uint32
	data []byte
}

// Len is the number of records.
func (s Strings) Len() int { return len(s.idx) }

// At returns record i's value.
func (s Strings) At(i int) string { return s.Value(int(s.idx[i])) }

// Indexes returns each record's index into the distinct values.
func (s Strings) Indexes() []uint32 { return s.idx }

// Distinct is the number of distinct values in the column.
func (s Strings) Distinct() int { return max(len(s.offs)-1, 0) }

// Value returns distinct value d.
func (s Strings) Value(d int) string { return dictValue(s.offs, s.data, uint32(d)) }

// Float64Lists is a list<f64> column.
type Float64Lists struct {
	offs []uint32
	vals []float64
}

// Len is the number of lists.
func (l Float64Lists) Len() int { return max(len(l.offs)-1, 0) }

// At returns list i (in place).
func (l Float64Lists) At(i int) []float64 {
	a, e := l.offs[i], l.offs[i+1]
	return l.vals[a:e:e]
}

// Record fills r with record i of the batch (the row view, for pipes that
// handle one record at a time). Strings alias the batch. Fields the
// manifest does not list are zero.
func (b *Batch) Record(i int, r *Record) error {
	p := &b.plan
	if p.r != r || p.l != b.l || r.rowOf != b.l {
		b.planRows(r)
	} else {
		// The last row used the same plan: every field it set is
		// overwritten below and the others are still zero, so only the
		// lists need emptying (zeroing the whole record per line was most
		// of a cheap pipe's cost in WASM).
		r.UpstreamTimes, r.Vars = r.UpstreamTimes[:0], r.Vars[:0]
		r.UA.Products, r.UA.Comments = r.UA.Products[:0], r.UA.Comments[:0]
	}
	// Typed slot lists instead of a switch per field: a switch over the
	// field kinds is a chain of compares in Go's WASM build.
	for _, sl := range p.str {
		*sl.dst = b.cols[sl.col].str(i)
	}
	for _, sl := range p.i64 {
		*sl.dst = b.cols[sl.col].i64[i]
	}
	for _, sl := range p.f64 {
		*sl.dst = b.cols[sl.col].f64[i]
	}
	for _, c := range p.other {
		if err := b.otherField(c, i, r); err != nil {
			return err
		}
	}
	return nil
}

// rowPlan says where each column of a layout goes in one Record.
type rowPlan struct {
	r     *Record
	l     *Layout
	str   []slot[string]
	i64   []slot[int64]
	f64   []slot[float64]
	other []int // columns set by otherField
}

type slot[T any] struct {
	col int
	dst *T
}

// planRows resets r and plans the row view of b's layout into it.
func (b *Batch) planRows(r *Record) {
	r.Reset()
	r.Bytes, r.RequestTime = 0, 0
	r.rowOf = b.l
	p := &b.plan
	*p = rowPlan{r: r, l: b.l, str: p.str[:0], i64: p.i64[:0], f64: p.f64[:0], other: p.other[:0]}
	for c, k := range b.l.kinds {
		var s *string
		var n *int64
		switch k {
		case kindTime:
			n = &r.Time
		case kindStatus:
			if strconv.IntSize == 64 { // wasm and 64-bit hosts
				n = (*int64)(unsafe.Pointer(&r.Status))
			} else {
				p.other = append(p.other, c)
			}
		case kindBytes:
			n = &r.Bytes
		case kindUAClassHash:
			n = (*int64)(unsafe.Pointer(&r.AgentClassHash))
		case kindPathHash:
			n = (*int64)(unsafe.Pointer(&r.PathHash))
		case kindRequestTime:
			p.f64 = append(p.f64, slot[float64]{c, &r.RequestTime})
		case kindUpstream, kindUA, kindVar:
			p.other = append(p.other, c)
		default:
			s = r.strField(k)
		}
		if s != nil {
			p.str = append(p.str, slot[string]{c, s})
		}
		if n != nil {
			p.i64 = append(p.i64, slot[int64]{c, n})
		}
	}
}

// otherField sets the list and var fields of record i from column c.
func (b *Batch) otherField(c, i int, r *Record) error {
	col := &b.cols[c]
	switch b.l.kinds[c] {
	case kindStatus: // on a 32-bit host
		r.Status = int(col.i64[i])
	case kindUpstream:
		r.UpstreamTimes = append(r.UpstreamTimes, Float64Lists{col.offs, col.f64}.At(i)...)
	case kindVar:
		r.Vars = append(r.Vars, Var{Name: b.l.varName(c), Value: col.str(i)})
	case kindUA:
		d := wire.Decoder{B: col.data[col.offs[i]:col.offs[i+1]]}
		n := d.Count(8)
		for j := 0; j < n; j++ {
			name := d.String()
			r.UA.Products = append(r.UA.Products, Product{Name: name, Version: d.String()})
		}
		n = d.Count(4)
		for j := 0; j < n; j++ {
			r.UA.Comments = append(r.UA.Comments, d.String())
		}
		if d.Err == nil && d.Off != len(d.B) {
			d.Err = fmt.Errorf("%d trailing bytes", len(d.B)-d.Off)
		}
		if d.Err != nil {
			return fmt.Errorf("malformed record %d: field ua: %w", i, d.Err)
		}
		r.UAParsed = true
	}
	return nil
}
