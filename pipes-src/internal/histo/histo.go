// Package histo is the latency histogram of the built-in time pipes
// (reqtime, upstream): an average (ROOT,avg), a sum (ROOT,sum) and
// cumulative buckets (ROOT,le,0.1 = samples of at most 0.1 s; ROOT,le,+Inf
// = all of them), as Prometheus histograms, so any percentile over any
// time range can be derived from the trend store. A batch is counted in a
// bucket array and emitted once: a sample costs a short scan and two
// additions instead of a dozen Emits, which cost more in Go's WASM build.
package histo

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-dev/canopy/sdk/pipe"
)

// DefaultBuckets are Prometheus' default latency buckets, in seconds.
const DefaultBuckets = "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10"

// Hist counts the samples of a batch.
type Hist struct {
	bounds []float64
	hits   []uint32   // hits[i]: samples in (bounds[i-1], bounds[i]]; the last: above every bound
	le     []pipe.Key // ROOT,le,<bound>; the last is +Inf
	avg    pipe.Key
	sum    pipe.Key
	total  float64
	n      uint32
}

// New returns a histogram under root with the bucket bounds of spec
// ("0.005,0.01,…", seconds, the `buckets` param).
func New(root, spec string) (*Hist, error) {
	bounds, labels, err := parseBuckets(spec)
	if err != nil {
		return nil, err
	}
	h := &Hist{bounds: bounds, hits: make([]uint32, len(bounds)+1),
		avg: pipe.NewKey(root, "avg"), sum: pipe.NewKey(root, "sum")}
	for _, l := range append(labels, "+Inf") {
		h.le = append(h.le, pipe.NewKey(root, "le", l))
	}
	return h, nil
}

// AddAll counts every sample of vs that is a time (not NaN, not negative).
func (h *Hist) AddAll(vs []float64) {
	bounds, hits := h.bounds, h.hits
	for _, v := range vs {
		if math.IsNaN(v) || v < 0 {
			continue
		}
		// Most requests are fast: scanning from the smallest bound is short.
		i := 0
		for i < len(bounds) && v > bounds[i] {
			i++
		}
		hits[i]++
		h.total += v
		h.n++
	}
}

// Flush emits the batch's counts and starts the next batch.
func (h *Hist) Flush(out *pipe.Out) {
	if h.n == 0 {
		return
	}
	out.EmitKeySamples(&h.avg, h.total, h.n)
	out.EmitKey(&h.sum, h.total)
	var cum uint32 // cumulative: le,b counts every sample <= b
	for i, c := range h.hits {
		cum += c
		if cum > 0 {
			out.EmitKey(&h.le[i], float64(cum))
		}
		h.hits[i] = 0
	}
	h.total, h.n = 0, 0
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
