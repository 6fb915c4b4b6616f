// Command reqtime is canopy's built-in request-time pipe ($request_time):
// the average (reqtime,avg), the sum (reqtime,sum) and cumulative histogram
// buckets (reqtime,le,0.1 = requests that took at most 0.1 s;
// reqtime,le,+Inf = all of them), so any percentile over any time range
// can be derived from the trend store, as from Prometheus histograms.
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

// reqtime counts a batch in a bucket array and emits it once
// (pipe.Flusher): a line costs a short scan and two additions instead of a
// dozen Emits, which cost more in Go's WASM build.
type reqtime struct {
	bounds []float64
	hits   []uint32   // hits[i]: times in (bounds[i-1], bounds[i]]; the last: above every bound
	le     []pipe.Key // reqtime,le,<bound>; the last is +Inf
	avg    pipe.Key
	sum    pipe.Key
	total  float64
	n      uint32
}

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

func (p *reqtime) Init(cfg pipe.Config) error {
	bounds, labels, err := parseBuckets(cfg.String("buckets", defaultBuckets))
	if err != nil {
		return err
	}
	p.bounds = bounds
	p.hits = make([]uint32, len(bounds)+1)
	p.le = p.le[:0]
	for _, l := range append(labels, "+Inf") {
		p.le = append(p.le, pipe.NewKey("reqtime", "le", l))
	}
	p.avg, p.sum = pipe.NewKey("reqtime", "avg"), pipe.NewKey("reqtime", "sum")
	return nil
}

func (p *reqtime) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	for _, v := range b.Float64s(pipe.FieldRequestTime) {
		if math.IsNaN(v) || v < 0 {
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
	}
}

func (p *reqtime) Flush(out *pipe.Out) {
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
	p.total, p.n = 0, 0
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

func init() { pipe.Register(&reqtime{}) }

func main() { pipe.Main() }
