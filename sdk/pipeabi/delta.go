package pipeabi

import (
	"fmt"
	"math"

	"github.com/canopy-dev/canopy/sdk/wire"
)

// Delta kinds on the wire.
const (
	KindNumber = 1 // f64 value, u32 count
	KindMarker = 2 // str marker
)

// Delta is one change a pipe hands back. For a number, Value is the merge of
// Count samples under the action ruling Path: their sum for add and average
// (the mean is Value/Count), their max, min, or last value otherwise. A
// pipe that emits a single sample sets Count 1.
type Delta struct {
	Path     []string
	Value    float64
	Count    uint32
	Marker   string
	IsMarker bool
}

// AppendDeltaCount appends the number of deltas that follow.
func AppendDeltaCount(dst []byte, n int) []byte { return wire.AppendU32(dst, uint32(n)) }

// AppendNumber appends a number delta whose path is already encoded.
func AppendNumber(dst, encodedPath []byte, value float64, count uint32) []byte {
	dst = append(dst, KindNumber)
	dst = append(dst, encodedPath...)
	dst = wire.AppendF64(dst, value)
	return wire.AppendU32(dst, count)
}

// AppendMarker appends a marker delta whose path is already encoded.
func AppendMarker(dst, encodedPath []byte, marker string) []byte {
	dst = append(dst, KindMarker)
	dst = append(dst, encodedPath...)
	return wire.AppendString(dst, marker)
}

// DecodeDeltas decodes the result of process or tick and validates every
// delta against m: a path outside the declared roots, an empty segment, a
// non-finite number, a zero count or trailing bytes make the whole batch
// malformed. The deltas are appended to dst; their strings are copied (one
// allocation for the whole batch), so b may be reused afterwards.
func DecodeDeltas(dst []Delta, b []byte, m *Manifest) ([]Delta, error) {
	rest, err := wire.CheckStatus(b)
	if err != nil {
		return dst, err
	}
	// One copy of the payload; every string below aliases it.
	own := append([]byte(nil), rest...)
	d := wire.Decoder{B: own}
	n := d.Count(1 + 1 + 5) // kind, segment count, one 1-byte segment
	if d.Err != nil {
		return dst, fmt.Errorf("malformed deltas: %w", d.Err)
	}
	segs := make([]string, 0, n*3)
	for i := 0; i < n; i++ {
		kind := d.U8()
		start := len(segs)
		segs = d.Path(segs)
		if d.Err != nil {
			return dst, fmt.Errorf("malformed delta %d: %w", i, d.Err)
		}
		path := segs[start:len(segs):len(segs)]
		if err := validPath(path); err != nil {
			return dst, fmt.Errorf("malformed delta %d: %w", i, err)
		}
		if m != nil && m.RootFor(path) < 0 {
			return dst, fmt.Errorf("delta %d writes %q outside the pipe's declared roots", i, path)
		}
		switch kind {
		case KindNumber:
			v, c := d.F64(), d.U32()
			if d.Err != nil {
				return dst, fmt.Errorf("malformed delta %d: %w", i, d.Err)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return dst, fmt.Errorf("delta %d at %q: value %v is not finite", i, path, v)
			}
			if c == 0 {
				return dst, fmt.Errorf("delta %d at %q: sample count 0", i, path)
			}
			dst = append(dst, Delta{Path: path, Value: v, Count: c})
		case KindMarker:
			s := d.String()
			if d.Err != nil {
				return dst, fmt.Errorf("malformed delta %d: %w", i, d.Err)
			}
			if len(s) > wire.MaxMarkerBytes {
				return dst, fmt.Errorf("delta %d at %q: marker of %d bytes (max %d)", i, path, len(s), wire.MaxMarkerBytes)
			}
			dst = append(dst, Delta{Path: path, Marker: s, IsMarker: true})
		default:
			return dst, fmt.Errorf("malformed delta %d: unknown kind %d", i, kind)
		}
	}
	if d.Off != len(own) {
		return dst, fmt.Errorf("malformed deltas: %d trailing bytes", len(own)-d.Off)
	}
	return dst, nil
}
