package abi

import (
	"encoding/binary"
	"errors"
	"math"
	"unsafe"
)

// errShort is returned when a buffer ends inside a value.
var errShort = errors.New("buffer ends inside a value")

// AppendU32 appends v as 4 little-endian bytes.
func AppendU32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }

// AppendI64 appends v as 8 little-endian bytes.
func AppendI64(dst []byte, v int64) []byte { return binary.LittleEndian.AppendUint64(dst, uint64(v)) }

// AppendF64 appends the IEEE-754 bits of v as 8 little-endian bytes.
func AppendF64(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

// AppendString appends a str: u32 byte length, then the bytes.
func AppendString(dst []byte, s string) []byte {
	dst = AppendU32(dst, uint32(len(s)))
	return append(dst, s...)
}

// appendPath appends a path: u8 segment count, then each segment as a str.
func appendPath(dst []byte, p []string) []byte {
	dst = append(dst, byte(len(p)))
	for _, s := range p {
		dst = AppendString(dst, s)
	}
	return dst
}

// Decoder reads the wire primitives from B starting at Off. The first error
// sticks in Err and every later read returns a zero value, so callers check
// Err once after a group of reads.
//
// Strings returned by String alias B (no copy): they are valid only while B
// is neither reused nor modified.
type Decoder struct {
	B   []byte
	Off int
	Err error
}

func (d *Decoder) need(n int) bool {
	if d.Err != nil {
		return false
	}
	if n < 0 || len(d.B)-d.Off < n {
		d.Err = errShort
		return false
	}
	return true
}

func (d *Decoder) short() { d.Err = errShort }

// U8 reads one byte.
func (d *Decoder) U8() uint8 {
	if d.Err != nil || d.Off >= len(d.B) {
		d.short()
		return 0
	}
	v := d.B[d.Off]
	d.Off++
	return v
}

// U32 reads a little-endian uint32.
func (d *Decoder) U32() uint32 {
	if d.Err != nil || len(d.B)-d.Off < 4 {
		d.short()
		return 0
	}
	v := le32(d.B, d.Off)
	d.Off += 4
	return v
}

// I64 reads a little-endian int64.
func (d *Decoder) I64() int64 {
	if d.Err != nil || len(d.B)-d.Off < 8 {
		d.short()
		return 0
	}
	v := le64(d.B, d.Off)
	d.Off += 8
	return int64(v)
}

// F64 reads a little-endian IEEE-754 double.
func (d *Decoder) F64() float64 { return math.Float64frombits(uint64(d.I64())) }

// Count reads a u32 element count and checks that the rest of the buffer
// can hold that many elements of at least minSize bytes each, so a corrupt
// count cannot make the reader allocate without bound.
func (d *Decoder) Count(minSize int) int {
	n := d.U32()
	if d.Err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if uint64(n)*uint64(minSize) > uint64(len(d.B)-d.Off) {
		d.Err = errShort
		return 0
	}
	return int(n)
}

// String reads a str without copying (see the Decoder doc).
func (d *Decoder) String() string {
	if d.Err != nil || len(d.B)-d.Off < 4 {
		d.short()
		return ""
	}
	n := le32(d.B, d.Off)
	d.Off += 4
	if n == 0 {
		return ""
	}
	if uint64(n) > uint64(len(d.B)-d.Off) { // as unsigned: int is 32 bits on some hosts
		d.short()
		return ""
	}
	s := unsafe.String(&d.B[d.Off], int(n))
	d.Off += int(n)
	return s
}

// Path reads a path into dst[:0] (strings alias B).
func (d *Decoder) Path(dst []string) []string {
	n := int(d.U8())
	dst = dst[:0]
	for i := 0; i < n && d.Err == nil; i++ {
		dst = append(dst, d.String())
	}
	return dst
}
