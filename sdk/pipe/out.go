package pipe

import (
	"fmt"
	"math"
	"strings"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
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
	m       *pipeabi.Manifest
	slots   []int32 // open addressing: ents index + 1, 0 = free
	ents    []entry
	touched []int32
	gen     uint32 // changes when ents are dropped, invalidating Keys
	err     error
}

type entry struct {
	hash   uint64
	kind   byte
	path   []string
	key    string // kind byte + wire path, written verbatim to the result
	action pipeabi.Action
	value  float64
	count  uint32
	marker string
}

func newOut(m *pipeabi.Manifest) *Out {
	return &Out{m: m, gen: 1}
}

// Emit merges number v at path (its segments, unescaped; none empty).
func (o *Out) Emit(v float64, path ...string) {
	if e := o.entry(pipeabi.KindNumber, path); e != nil {
		o.merge(e, v, 1)
	}
}

// Key is a path prepared for repeated Emits (EmitKey): the first EmitKey
// finds its entry, later ones go straight to it without hashing the path.
// A pipe that emits the same few paths every batch keeps one Key per path
// (in Go's WASM build an Emit costs ~0.5 µs, an EmitKey a few ns).
type Key struct {
	e    int32  // index in Out.ents, valid while gen == Out.gen
	gen  uint32 // 0: not found yet
	path []string
}

// NewKey returns a Key for path (copied).
func NewKey(path ...string) Key { return Key{path: clonePath(path)} }

// clonePath copies path's segments, which may alias a batch.
func clonePath(path []string) []string {
	own := make([]string, len(path))
	for i, s := range path {
		own[i] = strings.Clone(s)
	}
	return own
}

// EmitKey is Emit(v, k's path...).
func (o *Out) EmitKey(k *Key, v float64) { o.EmitKeySamples(k, v, 1) }

// EmitKeySamples is EmitSamples(v, n, k's path...).
func (o *Out) EmitKeySamples(k *Key, v float64, n uint32) {
	if n == 0 {
		return
	}
	if k.gen != o.gen {
		i := o.find(pipeabi.KindNumber, k.path)
		if i < 0 {
			return
		}
		k.e, k.gen = i, o.gen
	} else if e := &o.ents[k.e]; e.count == 0 {
		o.touched = append(o.touched, k.e)
	}
	o.merge(&o.ents[k.e], v, n)
}

// merge adds n samples whose merge is v to e (see EmitSamples).
func (o *Out) merge(e *entry, v float64, n uint32) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		o.fail(fmt.Errorf("value %v at %q is not finite", v, joinPath(e.path)))
		return
	}
	if e.count == 0 {
		e.value = v
	} else {
		switch e.action {
		case pipeabi.ActionAdd, pipeabi.ActionAverage:
			e.value += v
		case pipeabi.ActionMax:
			e.value = max(e.value, v)
		case pipeabi.ActionMin:
			e.value = min(e.value, v)
		default:
			e.value = v
		}
	}
	e.count += n
}

// EmitSamples merges n samples at once whose merge under the path's action
// is v: their sum for Add and Average, their max for Max, min for Min, the
// last for Last. A pipe that aggregates a batch itself (see Flusher) hands
// over an average as EmitSamples(sum, count, path...). n = 0 does nothing.
func (o *Out) EmitSamples(v float64, n uint32, path ...string) {
	if n == 0 {
		return
	}
	if e := o.entry(pipeabi.KindNumber, path); e != nil {
		o.merge(e, v, n)
	}
}

// Mark sets marker s at path (the last one in a batch wins).
func (o *Out) Mark(s string, path ...string) {
	if e := o.entry(pipeabi.KindMarker, path); e != nil {
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

// entry finds (or adds) the batch entry of kind at path. It is the hot
// path of every Emit: an open-addressing table keyed by a hash of the
// segments read eight bytes at a time, compared segment by segment, with
// no allocation and few calls (Go's map with a string key costs ~1 µs per
// lookup in WASM; this is several times cheaper).
func (o *Out) entry(kind byte, path []string) *entry {
	if i := o.find(kind, path); i >= 0 {
		return &o.ents[i]
	}
	return nil
}

// find is entry by index into ents; -1 when the path is refused.
func (o *Out) find(kind byte, path []string) int32 {
	h := hashPath(kind, path)
	if len(o.slots) == 0 {
		o.slots = make([]int32, 64)
	}
	mask := uint64(len(o.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := o.slots[i]
		if s == 0 {
			return o.insert(int(i), h, kind, path)
		}
		e := &o.ents[s-1]
		if e.hash == h && e.kind == kind && samePath(e.path, path) {
			if e.count == 0 {
				o.touched = append(o.touched, s-1)
			}
			return s - 1
		}
	}
}

func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// insert adds a new entry for path at free slot i.
func (o *Out) insert(i int, h uint64, kind byte, path []string) int32 {
	root := o.m.RootFor(path)
	if root < 0 {
		o.fail(fmt.Errorf("path %q is outside the roots the manifest declares", joinPath(path)))
		return -1
	}
	for _, s := range path {
		if s == "" {
			o.fail(fmt.Errorf("path %q has an empty segment", joinPath(path)))
			return -1
		}
	}
	if len(path) > wire.MaxPathSegments {
		o.fail(fmt.Errorf("path %q is deeper than %d", joinPath(path), wire.MaxPathSegments))
		return -1
	}
	own := clonePath(path) // path may alias the input batch
	wire := wire.AppendPath([]byte{kind}, own...)
	o.ents = append(o.ents, entry{hash: h, kind: kind, path: own, key: string(wire), action: o.m.Roots[root].Action})
	n := int32(len(o.ents))
	o.slots[i] = n
	o.touched = append(o.touched, n-1)
	if int(n)*2 > len(o.slots) {
		o.grow()
	}
	return n - 1
}

// grow doubles the slot table.
func (o *Out) grow() {
	o.slots = make([]int32, len(o.slots)*2)
	mask := uint64(len(o.slots) - 1)
	for k := range o.ents {
		i := o.ents[k].hash & mask
		for o.slots[i] != 0 {
			i = (i + 1) & mask
		}
		o.slots[i] = int32(k + 1)
	}
}

// flush appends the batch result (status, count, deltas) to dst and
// resets the batch.
func (o *Out) flush(dst []byte) []byte {
	if o.err != nil {
		dst = wire.AppendError(dst, o.err.Error())
		o.reset()
		return dst
	}
	dst = wire.AppendOK(dst)
	dst = pipeabi.AppendDeltaCount(dst, len(o.touched))
	for _, i := range o.touched {
		e := &o.ents[i]
		dst = append(dst, e.key...)
		if e.key[0] == pipeabi.KindMarker {
			dst = wire.AppendString(dst, e.marker)
		} else {
			dst = wire.AppendF64(dst, e.value)
			dst = wire.AppendU32(dst, e.count)
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
		clear(o.slots)
		o.gen++
	}
}

// joinPath formats a path for an error without letting the caller's
// variadic slice escape (which would cost an allocation per Emit).
func joinPath(path []string) string { return strings.Join(path, ",") }
