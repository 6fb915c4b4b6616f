package pipe

import (
	"fmt"
	"math"
	"strings"

	"github.com/canopy-dev/canopy/sdk/abi"
)

// maxPaths bounds the paths Out remembers between batches; past it the
// index is rebuilt, so a pipe emitting unbounded paths cannot grow memory
// without bound (a pipe should still cap its own cardinality).
const maxPaths = 1 << 16

// Out collects the deltas of one batch. Deltas to the same path are merged
// in the guest by the action ruling the path (sum for add, sum and count
// for average, max, min, last), so a batch hands the host one delta per
// distinct path however many lines it had.
type Out struct {
	m       *abi.Manifest
	idx     map[string]int32 // kind byte + wire path → ents index
	ents    []entry
	touched []int32
	key     []byte
	path    []string
	err     error
}

type entry struct {
	key    string // kind byte + wire path, written verbatim to the result
	action abi.Action
	value  float64
	count  uint32
	marker string
}

func newOut(m *abi.Manifest) *Out {
	return &Out{m: m, idx: make(map[string]int32)}
}

// Emit merges number v at path (its segments, unescaped; none empty).
func (o *Out) Emit(v float64, path ...string) {
	e := o.entry(abi.KindNumber, path)
	if e == nil {
		return
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		o.fail(fmt.Errorf("value %v at %q is not finite", v, joinPath(path)))
		return
	}
	if e.count == 0 {
		e.value = v
	} else {
		switch e.action {
		case abi.ActionAdd, abi.ActionAverage:
			e.value += v
		case abi.ActionMax:
			e.value = max(e.value, v)
		case abi.ActionMin:
			e.value = min(e.value, v)
		default:
			e.value = v
		}
	}
	e.count++
}

// EmitSamples merges n samples at once whose merge under the path's action
// is v: their sum for Add and Average, their max for Max, min for Min, the
// last for Last. A pipe that aggregates a batch itself (see Flusher) hands
// over an average as EmitSamples(sum, count, path...). n = 0 does nothing.
func (o *Out) EmitSamples(v float64, n uint32, path ...string) {
	if n == 0 {
		return
	}
	e := o.entry(abi.KindNumber, path)
	if e == nil {
		return
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		o.fail(fmt.Errorf("value %v at %q is not finite", v, joinPath(path)))
		return
	}
	if e.count == 0 {
		e.value = v
	} else {
		switch e.action {
		case abi.ActionAdd, abi.ActionAverage:
			e.value += v
		case abi.ActionMax:
			e.value = max(e.value, v)
		case abi.ActionMin:
			e.value = min(e.value, v)
		default:
			e.value = v
		}
	}
	e.count += n
}

// Mark sets marker s at path (the last one in a batch wins).
func (o *Out) Mark(s string, path ...string) {
	if e := o.entry(abi.KindMarker, path); e != nil {
		e.marker = s
		e.count = 1
	}
}

// Err returns the first error of the batch (a path outside the declared
// roots, an empty segment, a non-finite value).
func (o *Out) Err() error { return o.err }

func (o *Out) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

func (o *Out) entry(kind byte, path []string) *entry {
	o.key = append(o.key[:0], kind)
	o.key = abi.AppendPath(o.key, path...)
	i, ok := o.idx[string(o.key)]
	if !ok {
		root := o.m.RootFor(path)
		if root < 0 {
			o.fail(fmt.Errorf("path %q is outside the roots the manifest declares", joinPath(path)))
			return nil
		}
		for _, s := range path {
			if s == "" {
				o.fail(fmt.Errorf("path %q has an empty segment", joinPath(path)))
				return nil
			}
		}
		if len(path) > abi.MaxPathSegments {
			o.fail(fmt.Errorf("path %q is deeper than %d", joinPath(path), abi.MaxPathSegments))
			return nil
		}
		i = int32(len(o.ents))
		o.ents = append(o.ents, entry{key: string(o.key), action: o.m.Roots[root].Action})
		o.idx[o.ents[i].key] = i
	}
	e := &o.ents[i]
	if e.count == 0 {
		o.touched = append(o.touched, i)
	}
	return e
}

// flush appends the batch result (status, count, deltas) to dst and
// resets the batch.
func (o *Out) flush(dst []byte) []byte {
	if o.err != nil {
		dst = abi.AppendError(dst, o.err.Error())
		o.reset()
		return dst
	}
	dst = abi.AppendOK(dst)
	dst = abi.AppendDeltaCount(dst, len(o.touched))
	for _, i := range o.touched {
		e := &o.ents[i]
		dst = append(dst, e.key...)
		if e.key[0] == abi.KindMarker {
			dst = abi.AppendString(dst, e.marker)
		} else {
			dst = abi.AppendF64(dst, e.value)
			dst = abi.AppendU32(dst, e.count)
		}
	}
	o.reset()
	return dst
}

func (o *Out) reset() {
	for _, i := range o.touched {
		o.ents[i].count, o.ents[i].marker = 0, ""
	}
	o.touched = o.touched[:0]
	o.err = nil
	if len(o.ents) > maxPaths {
		o.ents = o.ents[:0]
		clear(o.idx)
	}
}

// joinPath formats a path for an error without letting the caller's
// variadic slice escape (which would cost an allocation per Emit).
func joinPath(path []string) string { return strings.Join(path, ",") }
