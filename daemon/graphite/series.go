package graphite

import (
	"math"
)

var (
	inf = math.Inf(1)
	nan = math.NaN()
)

// Series is one time series as graphite-web's TimeSeries holds it: a
// value for each step from Start (inclusive) to End (exclusive), NaN
// where there is none (null).
type Series struct {
	Name             string
	Start, End, Step int64 // unix seconds
	Values           []float64
	// PathExpression is the path the series was fetched with; functions
	// that name their result after their input use it (sumSeries(a.*)).
	PathExpression string
	Tags           map[string]string
	// ConsolidationFunc folds values when a series has more points than
	// asked for (maxDataPoints, consolidateBy): average, sum, min, max,
	// first, last, avg_zero.
	ConsolidationFunc string
	// ValuesPerPoint > 1: the values are folded by ConsolidationFunc that
	// many at a time when read (graphite-web's lazy consolidation).
	ValuesPerPoint int
	XFilesFactor   float64

	// Graph options set by color, lineWidth, dashed and stacked.
	Color     string
	LineWidth float64
	Dashed    float64
	Stacked   bool
}

// newSeries makes a series with graphite-web's defaults.
func newSeries(name string, start, end, step int64, values []float64, xff float64) *Series {
	return &Series{Name: name, Start: start, End: end, Step: step, Values: values,
		PathExpression: name, Tags: map[string]string{"name": name},
		ConsolidationFunc: "average", ValuesPerPoint: 1, XFilesFactor: xff}
}

// copy returns a deep copy, renamed.
func (s *Series) copy(name string) *Series {
	c := *s
	c.Name = name
	c.Values = append([]float64(nil), s.Values...)
	c.Tags = make(map[string]string, len(s.Tags))
	for k, v := range s.Tags {
		c.Tags[k] = v
	}
	return &c
}

// rename sets the name and the path expression, as most graphite-web
// transforms do.
func (s *Series) rename(name string) {
	s.Name = name
	s.PathExpression = name
}

func isNull(v float64) bool { return math.IsNaN(v) }

// Points returns the values as read: consolidated ValuesPerPoint at a
// time (graphite-web's consolidating iterator).
func (s *Series) Points() []float64 {
	vpp := s.ValuesPerPoint
	if vpp <= 1 {
		return s.Values
	}
	out := make([]float64, 0, (len(s.Values)+vpp-1)/vpp)
	for i := 0; i < len(s.Values); i += vpp {
		j := min(i+vpp, len(s.Values))
		out = append(out, consolidate(s.ConsolidationFunc, s.Values[i:j], vpp, s.XFilesFactor))
	}
	return out
}

// consolidate folds one bucket of n values (fewer at the end).
func consolidate(fn string, vals []float64, n int, xff float64) float64 {
	nonNull := 0
	var buf []float64
	for _, v := range vals {
		if !isNull(v) {
			buf = append(buf, v)
			nonNull++
		} else if fn == "avg_zero" {
			buf = append(buf, 0)
		}
	}
	if nonNull == 0 || float64(nonNull)/float64(n) < xff {
		return nan
	}
	switch fn {
	case "sum":
		return sum(buf)
	case "max":
		m := buf[0]
		for _, v := range buf[1:] {
			m = math.Max(m, v)
		}
		return m
	case "min":
		m := buf[0]
		for _, v := range buf[1:] {
			m = math.Min(m, v)
		}
		return m
	case "first":
		return buf[0]
	case "last":
		return buf[len(buf)-1]
	}
	return sum(buf) / float64(len(buf)) // average, avg, avg_zero
}

// sum adds in order, as Python's sum does (the last bit matters for the
// differential test).
func sum(vals []float64) float64 {
	var s float64
	for _, v := range vals {
		s += v
	}
	return s
}

// Datapoints returns [value, timestamp] pairs as graphite-web's JSON
// writes them.
func (s *Series) Datapoints() []Datapoint {
	vals := s.Points()
	step := s.Step * int64(max(1, s.ValuesPerPoint))
	n := 0
	if step > 0 && s.End >= s.Start {
		n = int((s.End-s.Start)/step) + 1
	}
	n = min(n, len(vals))
	out := make([]Datapoint, n)
	for i := range n {
		out[i] = Datapoint{V: vals[i], T: s.Start + int64(i)*step}
	}
	return out
}

// Datapoint is one [value, timestamp] pair; a NaN value is null.
type Datapoint struct {
	V float64
	T int64
}
