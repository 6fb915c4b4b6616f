// Package wire holds what the pipe ABI (sdk/pipeabi) and the collector
// ABI (sdk/collectorabi) share: the little-endian primitives, the result
// convention (a status byte, then a payload or an error message), string
// pairs, and the two exports every canopy module has. README.md in this
// folder specifies them; each ABI's README builds on it and carries its own
// version, so this package has none.
//
// Everything is little-endian and length-prefixed, with no JSON or varints in
// the hot path: Go's wasm target decodes fixed-width integers with single
// loads, and other languages need nothing but byte offsets.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// Exports every canopy module has, whichever ABI it implements.
const (
	// ExportAPIVersion is () -> i32: the ABI version the module implements.
	ExportAPIVersion = "canopy_api_version"
	// ExportAlloc is (size i32) -> i32: the buffer the host writes the next
	// input into.
	ExportAlloc = "canopy_alloc"
)

// Result status bytes: the first byte of every result buffer.
const (
	StatusOK    = 0
	StatusError = 1
)

// Limits shared by both ABIs on what a module hands back.
const (
	MaxPathSegments = 32
	MaxSegmentBytes = 1024
	MaxMarkerBytes  = 64 << 10
)

// ErrShort is returned when a buffer ends inside a value.
var ErrShort = errors.New("buffer ends inside a value")

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

// AppendPath appends a path: u8 segment count, then each segment as a str.
// Guests use it to build the wire form of a path once and reuse it.
func AppendPath(dst []byte, p ...string) []byte {
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

func (d *Decoder) short() { d.Err = ErrShort }

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
	v := LoadU32(d.B, d.Off)
	d.Off += 4
	return v
}

// I64 reads a little-endian int64.
func (d *Decoder) I64() int64 {
	if d.Err != nil || len(d.B)-d.Off < 8 {
		d.short()
		return 0
	}
	v := LoadU64(d.B, d.Off)
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
		d.Err = ErrShort
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
	n := LoadU32(d.B, d.Off)
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

// Path reads a path and appends its segments to dst (strings alias B).
func (d *Decoder) Path(dst []string) []string {
	n := int(d.U8())
	for i := 0; i < n && d.Err == nil; i++ {
		dst = append(dst, d.String())
	}
	return dst
}

// AppendOK appends the status byte of a successful result; the payload
// follows.
func AppendOK(dst []byte) []byte { return append(dst, StatusOK) }

// AppendError appends a failed result with its message.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, StatusError)
	return AppendString(dst, msg)
}

// ErrNotOK marks a result whose status byte says the module failed.
var ErrNotOK = errors.New("module reported an error")

// CheckStatus reads the status byte of a result buffer: nil for OK (and the
// rest of the buffer), or an error wrapping ErrNotOK with the module's
// message.
func CheckStatus(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("malformed result: empty")
	}
	switch b[0] {
	case StatusOK:
		return b[1:], nil
	case StatusError:
		d := Decoder{B: b, Off: 1}
		msg := d.String()
		if d.Err != nil {
			return nil, fmt.Errorf("malformed error result: %w", d.Err)
		}
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		return nil, fmt.Errorf("%w: %s", ErrNotOK, msg)
	default:
		return nil, fmt.Errorf("malformed result: status byte %d", b[0])
	}
}

// AppendConfig appends string pairs (list<pair>, pair = str key, str
// value; sorted by the caller if order matters) to dst.
func AppendConfig(dst []byte, keys, values []string) []byte {
	dst = AppendU32(dst, uint32(len(keys)))
	for i := range keys {
		dst = AppendString(dst, keys[i])
		dst = AppendString(dst, values[i])
	}
	return dst
}

// DecodeConfig decodes AppendConfig's encoding into a map (strings copied).
func DecodeConfig(b []byte) (map[string]string, error) {
	d := Decoder{B: b}
	n := d.Count(8)
	cfg := make(map[string]string, n)
	for i := 0; i < n && d.Err == nil; i++ {
		k := Clone(d.String())
		cfg[k] = Clone(d.String())
	}
	if d.Err != nil {
		return nil, fmt.Errorf("malformed config: %w", d.Err)
	}
	return cfg, nil
}

// Clone copies s so it no longer aliases a decode buffer.
func Clone(s string) string {
	if s == "" {
		return ""
	}
	return string(append([]byte(nil), s...))
}
