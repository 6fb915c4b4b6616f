package pipe

import (
	"strconv"
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// TestOutTable merges many distinct paths (forcing the table to grow) in
// several batches and checks every merged value.
func TestOutTable(t *testing.T) {
	m := &pipeabi.Manifest{Name: "t", Roots: []pipeabi.Root{{Path: []string{"a"}, Action: pipeabi.ActionAdd},
		{Path: []string{"a", "max"}, Action: pipeabi.ActionMax}}}
	o := newOut(m)
	const n = 5000
	for batch := range 3 {
		for i := range n {
			s := strconv.Itoa(i)
			o.Emit(1, "a", s, "x")
			o.Emit(float64(i), "a", "max", s[:1])
			if i%7 == 0 {
				o.Emit(2, "a", s, "x")
			}
		}
		o.Mark("m"+strconv.Itoa(batch), "a", "mark")
		ds, err := pipeabi.DecodeDeltas(nil, o.flush(nil), m)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]pipeabi.Delta{}
		for _, d := range ds {
			k := joinPath(d.Path)
			if _, dup := got[k]; dup {
				t.Fatalf("batch %d: %s twice", batch, k)
			}
			got[k] = d
		}
		for i := range n {
			s := strconv.Itoa(i)
			want, cnt := 1.0, uint32(1)
			if i%7 == 0 {
				want, cnt = 3, 2
			}
			if d := got["a,"+s+",x"]; d.Value != want || d.Count != cnt {
				t.Fatalf("batch %d: a,%s,x = %+v, want %v×%d", batch, s, d, want, cnt)
			}
		}
		if d := got["a,max,9"]; d.Value != 999 && d.Value != 9999 {
			t.Errorf("a,max,9 = %+v", d)
		}
		if d := got["a,mark"]; !d.IsMarker || d.Marker != "m"+strconv.Itoa(batch) {
			t.Errorf("marker %+v", d)
		}
		if len(ds) != n+10+1 {
			t.Errorf("batch %d: %d deltas, want %d", batch, len(ds), n+11)
		}
	}
	o.Emit(1, "b")
	if o.Err() == nil {
		t.Errorf("a path outside the roots was accepted")
	}
}

// TestOutKeys checks that EmitKey merges like Emit, shares entries with it,
// and survives the table being dropped (more than maxPaths paths).
func TestOutKeys(t *testing.T) {
	m := &pipeabi.Manifest{Name: "t", Roots: []pipeabi.Root{{Path: []string{"a"}, Action: pipeabi.ActionAdd},
		{Path: []string{"a", "avg"}, Action: pipeabi.ActionAverage}}}
	o := newOut(m)
	k, avg, bad := NewKey("a", "k"), NewKey("a", "avg"), NewKey("b")
	for batch := range 3 {
		o.EmitKey(&k, 2)
		o.Emit(3, "a", "k")
		o.EmitKey(&k, 4)
		o.EmitKeySamples(&avg, 10, 4)
		if batch == 1 { // drop the table: every Key must find its entry again
			for i := range maxPaths + 1 {
				o.Emit(1, "a", "x", strconv.Itoa(i))
			}
		}
		ds, err := pipeabi.DecodeDeltas(nil, o.flush(nil), m)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]pipeabi.Delta{}
		for _, d := range ds {
			got[joinPath(d.Path)] = d
		}
		if d := got["a,k"]; d.Value != 9 || d.Count != 3 {
			t.Errorf("batch %d: a,k = %+v, want 9×3", batch, d)
		}
		if d := got["a,avg"]; d.Value != 10 || d.Count != 4 {
			t.Errorf("batch %d: a,avg = %+v, want 10×4", batch, d)
		}
	}
	o.EmitKey(&bad, 1)
	if o.Err() == nil {
		t.Errorf("a key outside the roots was accepted")
	}
}
