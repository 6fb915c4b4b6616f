// Command statuscount is the example pipe of sdk/pipe/README.md: it counts
// requests per status class and keeps the largest response per method.
package main

import "github.com/canopy-dev/canopy/sdk/pipe"

var classes = [...]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

type statusCount struct{}

func (p *statusCount) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "statuscount", Version: "1.0.0",
		Fields: []string{pipe.FieldStatus, pipe.FieldMethod, pipe.FieldBytes},
		Roots: []pipe.Root{
			{Path: []string{"hits"}, Action: pipe.Add},
			{Path: []string{"hits", "largest"}, Action: pipe.Max},
		},
	}
}

func (p *statusCount) Init(cfg pipe.Config) error { return nil }

func (p *statusCount) Process(r *pipe.Record, out *pipe.Out) {
	if c := r.Status / 100; c >= 0 && c < len(classes) {
		out.Emit(1, "hits", classes[c])
	}
	if r.Bytes >= 0 && r.Method != "" {
		out.Emit(float64(r.Bytes), "hits", "largest", r.Method)
	}
}

func init() { pipe.Register(&statusCount{}) }

func main() { pipe.Main() }
