// Command upstream is canopy's built-in upstream-time pipe
// ($upstream_response_time): per request, the time spent on all upstreams
// tried (`0.010, 0.004` is 0.014 s) as an average (upstream,avg), a sum
// (upstream,sum) and cumulative histogram buckets (upstream,le,0.1 …
// upstream,le,+Inf), plus upstream,retries for requests that needed more
// than one upstream. Requests served without an upstream (`-`) are skipped.
package main

import (
	"math"
	"slices"

	"github.com/canopy-dev/canopy/pipes-src/internal/histo"
	"github.com/canopy-dev/canopy/sdk/pipe"
	// Imported for the compiler only: through pipe's aliases alone it does
	// not inline pipeabi's methods (golang/go#74783), and Float64Lists.At
	// was a call per line.
	_ "github.com/canopy-dev/canopy/sdk/pipeabi"
)

type upstream struct {
	h     *histo.Hist
	sums  []float64 // per request of the batch: the time on all its upstreams
	retry pipe.Key
	tries uint32
}

func (*upstream) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "upstream", Version: "1.0.0",
		Fields: []string{pipe.FieldUpstream},
		Roots: []pipe.Root{
			{Path: []string{"upstream"}, Action: pipe.Add},
			{Path: []string{"upstream", "avg"}, Action: pipe.Average},
		},
	}
}

func (p *upstream) Init(cfg pipe.Config) (err error) {
	p.retry = pipe.NewKey("upstream", "retries")
	p.h, err = histo.New("upstream", cfg.String("buckets", histo.DefaultBuckets))
	return err
}

func (p *upstream) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	lists := b.Float64Lists(pipe.FieldUpstream)
	sums := slices.Grow(p.sums[:0], lists.Len()) // a local: append to a field stores it back per line
	for r := range lists.Len() {
		times := lists.At(r)
		if len(times) == 1 { // the common case, without the inner loop's branches
			if t := times[0]; t >= 0 { // not NaN
				sums = append(sums, 0+t) // 0+t: the sum below, even for -0
			}
			continue
		}
		v, n := 0.0, 0
		for _, t := range times {
			if !math.IsNaN(t) && t >= 0 {
				v += t
				n++
			}
		}
		if n == 0 {
			continue // served without an upstream
		}
		sums = append(sums, v)
		if len(times) > 1 {
			p.tries++
		}
	}
	p.sums = sums
	p.h.AddAll(sums)
}

func (p *upstream) Flush(out *pipe.Out) {
	p.h.Flush(out)
	if p.tries > 0 {
		out.EmitKey(&p.retry, float64(p.tries))
		p.tries = 0
	}
}

func init() { pipe.Register(&upstream{}) }

func main() { pipe.Main() }
