package graph

import (
	"context"
	"sort"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// SeriesSource supplies time series and markers for a key (wildcards
// allowed: one series per matching key) in [from, until], downsampled to
// about points points with fn (as GET /trend: "" = rate for counters, avg
// for gauges).
type SeriesSource interface {
	Series(ctx context.Context, key string, from, until time.Time, points int, fn string) ([]Series, []Marker, error)
}

// TreeSource supplies the current values under a key: *tree.Tree.
type TreeSource interface {
	Get(p *key.Pattern) []tree.Entry
}

// View is what a graph needs of a saved view.
type View struct {
	Keys []string
	Type Type   // "" = the style's default
	From string // default start, e.g. "-1d"; "" = the graph default
}

// TrendQuerier is the query side of *trend.Store.
type TrendQuerier interface {
	Read(ctx context.Context, key string, opt trend.ReadOptions) (*trend.Result, error)
}

// FromTrend adapts the trend store to a SeriesSource. Marker events of one
// key that repeat the same text tick after tick become one shaded range.
func FromTrend(q TrendQuerier) SeriesSource { return trendSource{q} }

type trendSource struct{ q TrendQuerier }

func (t trendSource) Series(ctx context.Context, key string, from, until time.Time, points int, fn string) ([]Series, []Marker, error) {
	iv, hasInterval := t.q.(interface{ Interval() time.Duration })
	if hasInterval && iv.Interval() > 0 {
		// No step shorter than the store's tick: finer steps hold no more
		// data, and a counter's rate over them comes out as spikes.
		points = max(1, min(points, int(until.Sub(from)/iv.Interval())))
	}
	// Counters come as counts per step (StepMS): bars sum them to the
	// hits in the range, time charts divide them into rates per second.
	opt := trend.ReadOptions{From: from, Until: until, Points: points, Fn: trend.Fn(fn)}
	if opt.Fn == trend.FnAuto || opt.Fn == trend.FnRate {
		opt.As = trend.AsCount
	}
	res, err := t.q.Read(ctx, key, opt)
	if err != nil {
		return nil, nil, err
	}
	series := make([]Series, 0, len(res.Series))
	for _, s := range res.Series {
		pts := make([]Point, len(s.Points))
		for i, p := range s.Points {
			pts[i] = Point{T: p.T, V: p.V}
		}
		ser := Series{Name: s.Key, Points: pts}
		if s.As == trend.AsCount {
			ser.StepMS = res.StepMS // counts per step; per-second units divide
		}
		series = append(series, ser)
	}
	// Events further apart than a few ticks or output steps are separate.
	gap := 3 * res.StepMS
	if hasInterval {
		gap = max(gap, 5*iv.Interval().Milliseconds()/2)
	}
	return series, markerRanges(res.Markers, max(gap, 30_000)), nil
}

// markerRanges turns marker events into markers. Events of one key that
// repeat the same text no more than gap ms apart (a marker pushed tick
// after tick) join into a shaded range; a lone event is a line; the same
// text again later, with no other text in between, is the store
// refreshing an unchanged marker and adds nothing.
func markerRanges(events []trend.MarkerEvent, gap int64) []Marker {
	evs := append([]trend.MarkerEvent(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].Key != evs[j].Key {
			return evs[i].Key < evs[j].Key
		}
		return evs[i].T < evs[j].T
	})
	var out []Marker
	for i := 0; i < len(evs); {
		j := i
		for j+1 < len(evs) && evs[j+1].Key == evs[i].Key && evs[j+1].Text == evs[i].Text && evs[j+1].T-evs[j].T <= gap {
			j++
		}
		refresh := i > 0 && evs[i-1].Key == evs[i].Key && evs[i-1].Text == evs[i].Text
		if evs[i].Text != "" && !refresh {
			out = append(out, Marker{From: evs[i].T, Until: evs[j].T, Text: evs[i].Text})
		}
		i = j + 1
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out
}
