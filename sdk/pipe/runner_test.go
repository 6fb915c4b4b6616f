package pipe_test

import (
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

type noProcess struct{}

func (noProcess) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "np", Version: "1", Roots: []pipe.Root{{Path: []string{"x"}}}}
}
func (noProcess) Init(pipe.Config) error { return nil }

// batchCnt reads a column its manifest lacks when asked to.
type batchCnt struct{ wrong bool }

func (batchCnt) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "bc", Version: "1", Fields: []string{pipe.FieldStatus},
		Roots: []pipe.Root{{Path: []string{"hits"}, Action: pipe.Add}}}
}
func (batchCnt) Init(pipe.Config) error { return nil }
func (p batchCnt) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	if p.wrong {
		b.Strings(pipe.FieldPath)
	}
	out.Emit(float64(len(b.Int64s(pipe.FieldStatus))), "hits")
}

// TestRunnerProcessors checks the runner's choice of Process or
// ProcessBatch and its errors, as the host would read them.
func TestRunnerProcessors(t *testing.T) {
	l, _ := pipeabi.NewLayout([]string{pipe.FieldStatus})
	batch := l.AppendBatch(nil, make([]pipeabi.Record, 3))
	for _, tc := range []struct {
		name string
		p    pipe.Pipe
		want string // in the error; "" for success
	}{
		{"batch", batchCnt{}, ""},
		{"neither", noProcess{}, "neither a Process nor a ProcessBatch method"},
		{"unlisted field", batchCnt{wrong: true}, `field "path"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := pipe.NewRunner(tc.p)
			run.Init(wire.AppendConfig(nil, nil, nil))
			in := run.Buffer(len(batch))
			copy(in, batch)
			res := run.Process(in)
			ds, err := pipeabi.DecodeDeltas(nil, res, run.Manifest())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("process: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("process error %v, want %q", err, tc.want)
			case tc.want == "" && (len(ds) != 1 || ds[0].Value != 3):
				t.Fatalf("deltas %+v, want hits=3", ds)
			}
		})
	}
}
