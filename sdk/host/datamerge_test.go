package host

import (
	"bytes"
	"testing"
)

// seg encodes one active data segment at off into memory 0.
func seg(off int32, init []byte) []byte {
	b := append([]byte{0x00, 0x41}, appendS32(nil, off)...)
	b = append(b, 0x0B)
	b = appendU32(b, uint32(len(init)))
	return append(b, init...)
}

func dataBody(segs ...[]byte) []byte {
	b := appendU32(nil, uint32(len(segs)))
	for _, s := range segs {
		b = append(b, s...)
	}
	return b
}

// image applies a data section body to a zeroed memory of n bytes, in
// order, as instantiation does; it returns the memory and the segment
// count.
func image(t *testing.T, body []byte, n int) ([]byte, int) {
	t.Helper()
	r := reader{b: body}
	count := int(r.u32())
	mem := make([]byte, n)
	for range count {
		if r.u32() != 0 || r.byte() != 0x41 {
			t.Fatal("unexpected segment kind")
		}
		off := uint32(r.s32())
		r.byte()
		init := r.bytes(int(r.u32()))
		if r.err != nil {
			t.Fatal(r.err)
		}
		copy(mem[off:], init)
	}
	return mem, count
}

func TestMergeData(t *testing.T) {
	passive := appendU32(nil, 1)
	passive = append(passive, 0x01, 0x02, 'h', 'i')
	for _, tc := range []struct {
		name     string
		body     []byte
		segments int // after merging; 0: body must come back unchanged
	}{
		{"adjacent", dataBody(seg(16, []byte("ab")), seg(18, []byte("cd"))), 1},
		{"short gap", dataBody(seg(16, []byte("ab")), seg(40, []byte("cd")), seg(4000, []byte("ef"))), 1},
		{"long gap", dataBody(seg(16, []byte("ab")), seg(16+2+maxDataGap+1, []byte("cd"))), 2},
		{"unsorted", dataBody(seg(900, []byte("xy")), seg(16, []byte("ab")), seg(30, []byte("cd"))), 1},
		{"high offset", dataBody(seg(-8, []byte("zz")), seg(-100, []byte("yy"))), 1},
		{"overlap", dataBody(seg(16, []byte("abcd")), seg(18, []byte("XY"))), 0},
		{"one", dataBody(seg(16, []byte("ab"))), 0},
		{"passive", dataBody(seg(16, []byte("ab")), passive[1:]), 0},
		{"truncated", dataBody(seg(16, []byte("ab")), seg(20, []byte("cd")))[:10], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeData(tc.body)
			if tc.segments == 0 {
				if !bytes.Equal(got, tc.body) {
					t.Fatalf("body changed: %x, want %x", got, tc.body)
				}
				return
			}
			size := 1 << 16
			if tc.name == "high offset" {
				// Offsets are unsigned: -8 is 0xFFFFFFF8. Compare the
				// segments themselves instead of a 4 GiB image.
				r := reader{b: got}
				if n := r.u32(); n != 1 {
					t.Fatalf("%d segments, want 1", n)
				}
				r.u32()
				r.byte()
				if off := uint32(r.s32()); off != 0xFFFFFF9C {
					t.Errorf("offset %#x, want 0xFFFFFF9C", off)
				}
				return
			}
			want, _ := image(t, tc.body, size)
			mem, n := image(t, got, size)
			if n != tc.segments {
				t.Errorf("%d segments, want %d", n, tc.segments)
			}
			if !bytes.Equal(mem, want) {
				t.Error("memory contents differ after merging")
			}
		})
	}
}

// FuzzMergeData: whatever the input, merging never changes what
// instantiation writes.
func FuzzMergeData(f *testing.F) {
	f.Add([]byte{16, 2, 40, 2, 200, 1})
	f.Add([]byte{0, 1, 1, 1, 250, 3, 5, 9})
	f.Fuzz(func(t *testing.T, spec []byte) {
		// spec pairs: (gap to the previous segment, length).
		var segs [][]byte
		off := int32(0)
		for i := 0; i+1 < len(spec); i += 2 {
			off += int32(spec[i]) * 16
			init := bytes.Repeat([]byte{byte(i + 1)}, int(spec[i+1]%40)+1)
			segs = append(segs, seg(off, init))
			off += int32(len(init))
		}
		// Reverse every other run so order does not matter either.
		for i := 0; i+1 < len(segs); i += 4 {
			segs[i], segs[i+1] = segs[i+1], segs[i]
		}
		body := dataBody(segs...)
		want, _ := image(t, body, int(off)+64)
		got, _ := image(t, mergeData(body), int(off)+64)
		if !bytes.Equal(got, want) {
			t.Fatal("memory contents differ after merging")
		}
	})
}
