package tally

import (
	"reflect"
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

func TestCount(t *testing.T) {
	l, err := pipeabi.NewLayout([]string{pipeabi.FieldPath})
	if err != nil {
		t.Fatal(err)
	}
	var tl Tally
	for _, tc := range []struct {
		paths  []string
		counts []uint32
		first  []int32
	}{
		{[]string{"/a", "/b", "/a", "", "/a"}, []uint32{3, 1, 1}, []int32{0, 1, 3}},
		{[]string{"/z"}, []uint32{1}, []int32{0}},
		{nil, []uint32{}, []int32{}},
	} {
		recs := make([]pipeabi.Record, len(tc.paths))
		for i, p := range tc.paths {
			recs[i].Path = p
		}
		var b pipeabi.Batch
		if err := l.DecodeBatch(l.AppendBatch(nil, recs), &b); err != nil {
			t.Fatal(err)
		}
		tl.Count(b.Strings(pipeabi.FieldPath))
		if !reflect.DeepEqual(tl.Counts, tc.counts) || !reflect.DeepEqual(tl.First, tc.first) {
			t.Errorf("%q: counts %v first %v, want %v %v", tc.paths, tl.Counts, tl.First, tc.counts, tc.first)
		}
	}
}
