// Command upstream is canopy's built-in upstream-time pipe
// ($upstream_response_time): per request, the time spent on all upstreams
// tried (`0.010, 0.004` is 0.014 s) as an average (upstream,avg), a sum
// (upstream,sum) and cumulative histogram buckets (upstream,le,0.1 …
// upstream,le,+Inf), plus upstream,retries for requests that needed more
// than one upstream. Requests served without an upstream (`-`) are skipped.
package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-dev/canopy/sdk/pipe"
)

// defaultBuckets are Prometheus' default latency buckets, in seconds.
const defaultBuckets = "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10"

// upstream counts a batch in a bucket array and emits it once
// (pipe.Flusher): a line costs a short scan and two additions instead of a
// dozen Emits, which cost more in Go's WASM build.
type upstream struct {
	bounds []float64
	hits   []uint32   // hits[i]: times in (bounds[i-1], bounds[i]]; the last: above every bound
	le     []pipe.Key // upstream,le,<bound>; the last is +Inf
	avg    pipe.Key
	sum    pipe.Key
	retry  pipe.Key
	total  float64
	n      uint32
	tries  uint32
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

func (p *upstream) Init(cfg pipe.Config) error {
	bounds, labels, err := parseBuckets(cfg.String("buckets", defaultBuckets))
	if err != nil {
		return err
	}
	p.bounds = bounds
	p.hits = make([]uint32, len(bounds)+1)
	p.le = p.le[:0]
	for _, l := range append(labels, "+Inf") {
		p.le = append(p.le, pipe.NewKey("upstream", "le", l))
	}
	p.avg, p.sum, p.retry = pipe.NewKey("upstream", "avg"), pipe.NewKey("upstream", "sum"), pipe.NewKey("upstream", "retries")
	return nil
}

func (p *upstream) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	lists := b.Float64Lists(pipe.FieldUpstream)
	for r := range lists.Len() {
		times := lists.At(r)
		v, n := 0.0, 0
		for _, t := range times {
			if !math.IsNaN(t) && t >= 0 {
				v += t
				n++
			}
		}
		if n == 0 {
			continue
		}
		// Most requests are fast: scanning from the smallest bound is short.
		i := 0
		for i < len(p.bounds) && v > p.bounds[i] {
			i++
		}
		p.hits[i]++
		p.total += v
		p.n++
		if len(times) > 1 {
			p.tries++
		}
	}
}

func (p *upstream) Flush(out *pipe.Out) {
	if p.n == 0 {
		return
	}
	out.EmitKeySamples(&p.avg, p.total, p.n)
	out.EmitKey(&p.sum, p.total)
	var cum uint32 // cumulative, as Prometheus histograms: le,b counts every time <= b
	for i, h := range p.hits {
		cum += h
		if cum > 0 {
			out.EmitKey(&p.le[i], float64(cum))
		}
		p.hits[i] = 0
	}
	if p.tries > 0 {
		out.EmitKey(&p.retry, float64(p.tries))
	}
	p.total, p.n, p.tries = 0, 0, 0
}

// parseBuckets reads "0.005,0.01,…" into sorted bounds and their labels.
func parseBuckets(s string) ([]float64, []string, error) {
	var bounds []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		b, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(b) || math.IsInf(b, 0) || b < 0 {
			return nil, nil, fmt.Errorf("param buckets=%q: %q is not a number of seconds", s, f)
		}
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	labels := make([]string, len(bounds))
	for i, b := range bounds {
		labels[i] = strconv.FormatFloat(b, 'f', -1, 64)
	}
	return bounds, labels, nil
}

func init() { pipe.Register(&upstream{}) }

func main() { pipe.Main() }
