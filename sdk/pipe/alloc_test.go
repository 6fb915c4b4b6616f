package pipe_test

import (
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

type cnt struct{}

func (cnt) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "c", Version: "1", Fields: []string{pipe.FieldStatus, pipe.FieldMethod, pipe.FieldBytes},
		Roots: []pipe.Root{{Path: []string{"hits"}, Action: pipe.Add}}}
}
func (cnt) Init(pipe.Config) error { return nil }
func (cnt) Process(r *pipe.Record, out *pipe.Out) {
	out.Emit(1, "hits", "2xx")
	out.Emit(float64(r.Bytes), "hits", "bytes", r.Method)
}

func TestAllocs(t *testing.T) {
	run := pipe.NewRunner(cnt{})
	l, _ := pipeabi.NewLayout(run.Manifest().Fields)
	recs := make([]pipeabi.Record, 256)
	for i := range recs {
		recs[i] = pipeabi.Record{Status: 200, Method: "GET", Bytes: 10}
	}
	b := l.AppendBatch(nil, recs)
	in := run.Buffer(len(b))
	copy(in, b)
	run.Process(in)
	n := testing.AllocsPerRun(100, func() { run.Process(in) })
	t.Logf("allocs per batch: %v", n)
}
