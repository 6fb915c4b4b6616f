package host

import (
	"errors"
	"slices"
)

// Merging data segments.
//
// Go's wasm linker emits one active data segment per run of non-zero
// bytes: ≈36,000 segments for 1.2 MB of data in the agent's built-in
// modules. wazero keeps every segment decoded for the module's lifetime
// (a header, an offset expression and a separate slice each, plus one
// more slice per instance), ≈3.5 MB of Go heap where the bytes themselves
// are ≈0.9 MB. Memory starts zeroed, so segments separated by a short run
// of zeros can be joined into one that spells the zeros out: a few
// segments, the same memory contents.

// maxDataGap is the longest run of zeros written out to join two segments.
const maxDataGap = 4096

type dataSegment struct {
	off  uint32
	init []byte
}

// mergeData returns the data section body with adjacent segments joined,
// or body itself when it holds anything but plain active segments at
// constant offsets into memory 0 (passive segments are addressed by
// index, so their count must not change) or when segments overlap (the
// order they are applied in then matters).
func mergeData(body []byte) []byte {
	r := reader{b: body}
	n := r.u32()
	if r.err != nil || n < 2 {
		return body
	}
	segs := make([]dataSegment, 0, n)
	for i := uint32(0); i < n; i++ {
		if r.u32() != 0 || r.byte() != 0x41 { // active, memory 0; i32.const
			return body
		}
		off := r.s32()
		if r.byte() != 0x0B { // end
			return body
		}
		init := r.bytes(int(r.u32()))
		if r.err != nil {
			return body
		}
		segs = append(segs, dataSegment{off: uint32(off), init: init})
	}
	if r.off != len(body) {
		return body
	}
	slices.SortStableFunc(segs, func(a, b dataSegment) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	for i := 1; i < len(segs); i++ {
		if uint64(segs[i-1].off)+uint64(len(segs[i-1].init)) > uint64(segs[i].off) {
			return body
		}
	}
	var merged []dataSegment
	for _, s := range segs {
		if k := len(merged) - 1; k >= 0 {
			end := uint64(merged[k].off) + uint64(len(merged[k].init))
			if gap := uint64(s.off) - end; gap <= maxDataGap {
				init := merged[k].init
				init = append(init, make([]byte, gap)...)
				merged[k].init = append(init, s.init...)
				continue
			}
		}
		// A fresh slice: appending must never write into body.
		merged = append(merged, dataSegment{off: s.off, init: append([]byte(nil), s.init...)})
	}
	out := appendU32(nil, uint32(len(merged)))
	for _, s := range merged {
		out = append(out, 0x00, 0x41)
		out = appendS32(out, int32(s.off))
		out = append(out, 0x0B)
		out = appendU32(out, uint32(len(s.init)))
		out = append(out, s.init...)
	}
	return out
}

// s32 reads a signed LEB128 32-bit integer.
func (r *reader) s32() int32 {
	var v int64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= int64(c&0x7F) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return int32(v)
		}
	}
	if r.err == nil {
		r.err = errors.New("LEB128 too long")
	}
	return 0
}
