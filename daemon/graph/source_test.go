package graph

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/trend"
)

type fakeQuerier struct {
	res  *trend.Result
	args []any
}

func (f *fakeQuerier) Read(_ context.Context, key string, opt trend.ReadOptions) (*trend.Result, error) {
	f.args = []any{key, opt.From, opt.Until, opt.Points, opt.Fn, opt.As}
	return f.res, nil
}

func TestFromTrend(t *testing.T) {
	const s = 1000
	q := &fakeQuerier{res: &trend.Result{
		StepMS: 10 * s,
		Series: []trend.Series{
			{Key: "cpu,h,user", Fn: trend.FnAvg, Points: []trend.Point{{T: 0, V: 1}, {T: 10 * s, V: 2}}},
			{Key: "net,eth0,in", As: trend.AsCount, Points: []trend.Point{{T: 0, V: 5000}}},
			{Key: "cpu,h,idle", Points: []trend.Point{{T: 0, V: 9}}},
		},
		Markers: []trend.MarkerEvent{
			// One incident set for three ticks, then cleared: a range.
			{Key: "cpu,h,marker", T: 20 * s, Text: "sth. wrong happened"},
			{Key: "cpu,h,marker", T: 30 * s, Text: "sth. wrong happened"},
			{Key: "cpu,h,marker", T: 40 * s, Text: "sth. wrong happened"},
			{Key: "cpu,h,marker", T: 50 * s, Text: ""},
			// A lone event: a line.
			{Key: "deploy", T: 5 * s, Text: "v2"},
			// The same text again much later, after a clear: a second marker.
			{Key: "cpu,h,marker", T: 900 * s, Text: "sth. wrong happened"},
			// A marker left as it is, rewritten hourly by the store: one line.
			{Key: "deploy", T: 3000 * s, Text: "v3"},
			{Key: "deploy", T: 6600 * s, Text: "v3"},
			{Key: "deploy", T: 10200 * s, Text: "v3"},
		},
	}}
	from, until := time.UnixMilli(0), time.UnixMilli(1000*s)
	series, markers, err := FromTrend(q).Series(context.Background(), "cpu,h,*", from, until, 640, "avg")
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"cpu,h,*", from, until, 640, trend.FnAvg, trend.As("")}; !slices.Equal(q.args, want) {
		t.Errorf("Query got %v, want %v", q.args, want)
	}
	if len(series) != 3 || series[0].Name != "cpu,h,user" || !slices.Equal(series[0].Points, []Point{{0, 1}, {10 * s, 2}}) || series[0].StepMS != 0 {
		t.Errorf("series = %+v", series)
	}
	if series[1].StepMS != 10*s { // a counter's increases per step
		t.Errorf("rate series has StepMS %d, want %d", series[1].StepMS, 10*s)
	}
	if got := perSecond(series[1:2], UnitBytesPerSec)[0].Points[0].V; got != 500 {
		t.Errorf("5000 bytes per 10 s step = %g bytes/s, want 500", got)
	}
	want := []Marker{
		{From: 5 * s, Until: 5 * s, Text: "v2"},
		{From: 20 * s, Until: 40 * s, Text: "sth. wrong happened"},
		{From: 900 * s, Until: 900 * s, Text: "sth. wrong happened"},
		{From: 3000 * s, Until: 3000 * s, Text: "v3"},
	}
	if !slices.Equal(markers, want) {
		t.Errorf("markers = %+v\nwant      %+v", markers, want)
	}
}

type fakeTickingQuerier struct{ fakeQuerier }

func (fakeTickingQuerier) Interval() time.Duration { return 10 * time.Second }

// TestFromTrendPointsPerTick: a graph never asks for steps shorter than the
// store's tick.
func TestFromTrendPointsPerTick(t *testing.T) {
	q := &fakeTickingQuerier{fakeQuerier{res: &trend.Result{}}}
	until := time.UnixMilli(0).Add(5 * time.Minute)
	for _, tc := range []struct {
		from       time.Time
		asked, got int
	}{
		{time.UnixMilli(0), 720, 30},           // 5 min at 10 s ticks
		{until.Add(-48 * time.Hour), 720, 720}, // plenty of ticks
		{until.Add(-5 * time.Second), 720, 1},  // less than a tick
	} {
		if _, _, err := FromTrend(q).Series(context.Background(), "k", tc.from, until, tc.asked, ""); err != nil {
			t.Fatal(err)
		}
		if got := q.args[3].(int); got != tc.got {
			t.Errorf("span %v: asked the store for %d points, want %d", until.Sub(tc.from), got, tc.got)
		}
	}
}
