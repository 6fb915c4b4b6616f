// Command benchpipe measures what the SDK's parts cost inside WASM; the
// mode is set at link time (-X main.mode=MODE):
//
//	decode   records are decoded, nothing is emitted
//	emit1    one Emit of a fixed path per record
//	emit10   ten Emits of fixed paths per record
//	emitdyn  one Emit of a path built from the record (status, method)
package main

import "github.com/canopy-dev/canopy/sdk/pipe"

var mode = "decode"

type bench struct{ mode int }

var paths = [10]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}

func (*bench) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "bench-" + mode, Version: "0",
		Fields: []string{pipe.FieldStatus, pipe.FieldMethod, pipe.FieldPath, pipe.FieldRequestTime, pipe.FieldUABrowser},
		Roots:  []pipe.Root{{Path: []string{"bench"}, Action: pipe.Add}}}
}

// Init turns the mode into a number so Process does not compare strings.
func (b *bench) Init(pipe.Config) error {
	b.mode = map[string]int{"decode": 0, "emit1": 1, "emit10": 2, "emitdyn": 3}[mode]
	return nil
}

func (b *bench) Process(r *pipe.Record, out *pipe.Out) {
	switch b.mode {
	case 1:
		out.Emit(1, "bench", "x")
	case 2:
		for _, p := range paths {
			out.Emit(1, "bench", p)
		}
	case 3:
		out.Emit(1, "bench", r.Method, r.Agent.Browser)
	}
}

func init() { pipe.Register(&bench{}) }

func main() { pipe.Main() }
