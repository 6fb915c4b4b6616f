package histo

import (
	"math"
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// histPipe wraps a Hist as a pipe, to read what it emits.
type histPipe struct{ h *Hist }

func (histPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "h", Version: "0", Fields: []string{pipe.FieldRequestTime},
		Roots: []pipe.Root{{Path: []string{"t"}, Action: pipe.Add}, {Path: []string{"t", "avg"}, Action: pipe.Average}}}
}
func (p *histPipe) Init(cfg pipe.Config) (err error) {
	p.h, err = New("t", cfg.String("buckets", DefaultBuckets))
	return err
}
func (p *histPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	p.h.AddAll(b.Float64s(pipe.FieldRequestTime))
}
func (p *histPipe) Flush(out *pipe.Out) { p.h.Flush(out) }

func TestHist(t *testing.T) {
	for _, tc := range []struct {
		name, buckets string
		times         []float64
		want          string
	}{
		{"cumulative", "1, 0.1", []float64{0.05, 0.1, 0.5, 2, math.NaN(), -1},
			"t,avg 0.6625\nt,le,+Inf 4\nt,le,0.1 2\nt,le,1 3\nt,sum 2.65\n"},
		{"bound order and duplicates", "0.5,0.1,0.5", []float64{0.3},
			"t,avg 0.3\nt,le,+Inf 1\nt,le,0.5 1\nt,sum 0.3\n"},
		{"nothing timed", "1", []float64{math.NaN()}, ""},
	} {
		recs := make([]pipe.Record, len(tc.times))
		for i, v := range tc.times {
			recs[i].RequestTime = v
		}
		res := pipetest.Native(t, &histPipe{}, map[string]string{"buckets": tc.buckets}, recs)
		if got := res.String(); got != tc.want {
			t.Errorf("%s: got\n%swant\n%s", tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"x", "-1", "NaN", "1,,Inf"} {
		if _, err := New("t", bad); err == nil {
			t.Errorf("buckets=%q accepted", bad)
		}
	}
}
