// Command reqtime is canopy's built-in request-time pipe ($request_time):
// the average (reqtime,avg), the sum (reqtime,sum) and cumulative histogram
// buckets (reqtime,le,0.1 = requests that took at most 0.1 s;
// reqtime,le,+Inf = all of them), so any percentile over any time range
// can be derived from the trend store, as from Prometheus histograms.
package main

import (
	"github.com/canopy-dev/canopy/pipes-src/internal/histo"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

type reqtime struct{ h *histo.Hist }

func (*reqtime) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "reqtime", Version: "1.0.0",
		Fields: []string{pipe.FieldRequestTime},
		Roots: []pipe.Root{
			{Path: []string{"reqtime"}, Action: pipe.Add},
			{Path: []string{"reqtime", "avg"}, Action: pipe.Average},
		},
	}
}

func (p *reqtime) Init(cfg pipe.Config) (err error) {
	p.h, err = histo.New("reqtime", cfg.String("buckets", histo.DefaultBuckets))
	return err
}

func (p *reqtime) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	p.h.AddAll(b.Float64s(pipe.FieldRequestTime))
}

func (p *reqtime) Flush(out *pipe.Out) { p.h.Flush(out) }

func init() { pipe.Register(&reqtime{}) }

func main() { pipe.Main() }
