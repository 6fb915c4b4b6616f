package graphite

import (
	"context"
	"time"

	"github.com/canopy-dev/canopy/daemon/trend"
)

// TrendGrid is what FromTrend reads: *trend.Store.
type TrendGrid interface {
	GraphiteGrid(ctx context.Context, pattern string, start, end, step int64) ([]trend.GridSeries, error)
	Interval() time.Duration
}

// FromTrend reads canopy's trend store as a Source: at the store's tick
// for ranges up to maxPoints ticks, coarser (a whole number of ticks,
// rounded to minutes or hours) for longer ones, as whisper picks a
// coarser archive.
func FromTrend(t TrendGrid) Source { return trendSource{t} }

type trendSource struct{ t TrendGrid }

// maxPoints bounds one fetch, like the trend store's own limit.
const maxPoints = 100_000

func (s trendSource) Fetch(ctx context.Context, pattern string, from, until int64) ([]Fetched, error) {
	step := max(int64(1), int64(s.t.Interval()/time.Second))
	if span := until - from; span/step > maxPoints {
		k := (span/maxPoints + step - 1) / step
		step *= k
	}
	switch {
	case step >= 36000:
		step = (step + 3599) / 3600 * 3600
	case step >= 600:
		step = (step + 59) / 60 * 60
	}
	start, end := Align(from, until, step)
	got, err := s.t.GraphiteGrid(ctx, pattern, start*1000, end*1000, step*1000)
	if err != nil {
		return nil, err
	}
	out := make([]Fetched, len(got))
	for i, g := range got {
		out[i] = Fetched{Name: g.Name, Start: g.Start / 1000, Step: g.Step / 1000, Values: g.Values}
	}
	return out, nil
}
