package trend

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
)

// GridSeries is one series read onto a fixed grid for the Graphite
// evaluator: Values[i] is the bucket [Start+i*Step, Start+(i+1)*Step)
// (unix ms), NaN where the store has no value.
type GridSeries struct {
	Name        string // the Graphite name (dots; a key's own dots as %2E)
	Start, Step int64
	Values      []float64
}

// GraphiteGrid reads the series that the Graphite path expression
// pattern selects over the buckets [start, end) of step (unix ms; start
// and step multiples of step, as Graphite aligns them), counters as
// their increase per bucket (as=count) and gauges as their mean, with the
// read rules of kernel.go (NaN where there is no sample, stale gauges).
func (s *Store) GraphiteGrid(ctx context.Context, pattern string, start, end, step int64) ([]GridSeries, error) {
	m, err := graphiteMatcher(pattern)
	if err != nil {
		return nil, badQuery{err}
	}
	if step <= 0 || end <= start {
		return nil, badQuery{fmt.Errorf("empty grid [%d, %d) step %d", start, end, step)}
	}
	n := int((end - start) / step)
	if n > MaxPoints {
		return nil, badQuery{fmt.Errorf("%d points: at most %d", n, MaxPoints)}
	}
	// Counters as counts: what carbon holds for a counter sent per
	// interval (statsd's stats_counts); perSecond/scaleToSeconds give rates.
	res, err := s.read(ctx, m, ReadOptions{From: time.UnixMilli(start), Until: time.UnixMilli(end - 1),
		Step: time.Duration(step) * time.Millisecond, As: AsCount})
	if err != nil {
		return nil, err
	}
	if res.StepMS != step {
		return nil, fmt.Errorf("trend grid: asked for step %d ms, the store read %d ms", step, res.StepMS)
	}
	out := make([]GridSeries, 0, len(res.Series))
	for _, sr := range res.Series {
		g := GridSeries{Name: key.ToGraphite(sr.Key), Start: start, Step: step, Values: make([]float64, n)}
		for i := range g.Values {
			g.Values[i] = math.NaN()
		}
		for _, p := range sr.Points {
			if i := (p.T - start) / step; p.T >= start && i < int64(n) {
				g.Values[i] = p.V
			}
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GraphiteNames lists the Graphite names of every series with history
// in [from, until] (Graphite's /metrics/index.json).
func (s *Store) GraphiteNames(ctx context.Context, from, until time.Time) ([]string, error) {
	keys, err := s.Keys(ctx, "**", from, until)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = key.ToGraphite(k)
	}
	sort.Strings(out)
	return out, nil
}
