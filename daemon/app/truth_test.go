package app

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/graph"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// TestTrendOverTime drives a live daemon tick after tick and reads the
// history back as a user does, after the series stop: a counter created
// by the first push right after start keeps its first increment and
// reads the same at every zoom; a gauge pushed for a while and then
// silent is null (a gap) after the stale time in /trend, /render and the
// graph package's series, never its last value repeated.
func TestTrendOverTime(t *testing.T) {
	const tick = 500 * time.Millisecond
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Pipes: PipeFlags{Dir: t.TempDir()},
		Ingest: IngestFlags{Poll: 50 * time.Millisecond},
		Trend:  &trend.Flags{Interval: tick, Retention: trend.Duration(24 * time.Hour), Memory: 32 << 20}}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		d.Stop()
		t.Fatal(err)
	}
	defer d.Stop()
	base := "http://" + d.Addr()
	push := func(body string) {
		resp, err := http.Post(base+"/push", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	start := time.Now().Add(-time.Second)
	// The first push comes at once: it creates the counter.
	total := 0.0
	for i := 0; i < 12; i++ {
		n := float64(i%3 + 1)
		total += n
		push(`{"truth": {"hits": ` + jsonNum(n) + `}, "defaultaction": "add"}`)
		push(`{"truthg": {"load": ` + jsonNum(float64(40+i)) + `}, "defaultaction": "average"}`)
		time.Sleep(tick)
	}
	stopped := time.Now()
	// Several ticks of silence, well past the stale time (two ticks).
	time.Sleep(10 * tick)
	if err := d.trend.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	until := time.Now()
	from, to := url.QueryEscape(start.Format(time.RFC3339Nano)), url.QueryEscape(until.Format(time.RFC3339Nano))

	// The counter: every increment, at every zoom.
	for _, points := range []string{"1", "4", "20", "200"} {
		var res trend.Result
		getJSON(t, base+"/trend/truth,hits?as=count&points="+points+"&from="+from+"&until="+to, &res)
		if len(res.Series) != 1 {
			t.Fatalf("points=%s: %+v, want one series", points, res)
		}
		if got := sum(res.Series[0].Points); got != total {
			t.Errorf("points=%s: counts sum to %v, want %v (the first increment included)", points, got, total)
		}
		getJSON(t, base+"/trend/truth,hits?points="+points+"&from="+from+"&until="+to, &res)
		if got := sum(res.Series[0].Points) * float64(res.StepMS) / 1000; math.Abs(got-total) > 1e-9*total {
			t.Errorf("points=%s: rate × step sums to %v, want %v", points, got, total)
		}
		getJSON(t, base+"/trend/truth,hits?as=total&points="+points+"&from="+from+"&until="+to, &res)
		if pts := res.Series[0].Points; pts[len(pts)-1].V != total {
			t.Errorf("points=%s: total at the end = %v, want %v", points, pts[len(pts)-1], total)
		}
	}

	// The gauge: values while it was pushed, nulls after the stale time.
	stale := stopped.Add(3 * tick).UnixMilli() // the last sample's tick, plus two
	var res trend.Result
	getJSON(t, base+"/trend/truthg,load?points=200&from="+from+"&until="+to, &res)
	if len(res.Series) != 1 {
		t.Fatalf("/trend/truthg,load: %+v", res)
	}
	checkStale(t, "/trend", res.Series[0].Points, stale)

	var rendered []struct {
		Target     string        `json:"target"`
		Datapoints [][2]*float64 `json:"datapoints"`
	}
	getJSON(t, base+"/render?format=json&maxDataPoints=200&target=truthg.load&from="+from+"&until="+to, &rendered)
	if len(rendered) != 1 {
		t.Fatalf("/render: %+v", rendered)
	}
	var rp []trend.Point
	for _, dp := range rendered[0].Datapoints {
		p := trend.Point{T: int64(*dp[1]) * 1000, V: math.NaN()}
		if dp[0] != nil {
			p.V = *dp[0]
		}
		rp = append(rp, p)
	}
	checkStale(t, "/render", rp, stale/1000*1000+1000)

	series, _, err := graph.FromTrend(d.trend).Series(context.Background(), "truthg,load", start, until, 200, "")
	if err != nil || len(series) != 1 {
		t.Fatalf("graph series: %+v %v", series, err)
	}
	var gp []trend.Point
	for _, p := range series[0].Points {
		gp = append(gp, trend.Point{T: p.T, V: p.V})
	}
	checkStale(t, "/graph", gp, stale)
}

// checkStale: pts have values while the gauge was pushed and none from
// stale (ms) on.
func checkStale(t *testing.T, where string, pts []trend.Point, stale int64) {
	t.Helper()
	values, after, nulls := 0, 0, 0
	for _, p := range pts {
		switch {
		case p.T >= stale && !math.IsNaN(p.V):
			after++
		case p.T >= stale:
			nulls++
		case !math.IsNaN(p.V):
			values++
		}
	}
	if values < 5 || after > 0 || nulls < 3 {
		t.Errorf("%s: %d values before the stale time, %d after it, %d nulls after it; want >= 5, 0, >= 3\n%v", where, values, after, nulls, pts)
	}
}

func sum(pts []trend.Point) float64 {
	s := 0.0
	for _, p := range pts {
		if !math.IsNaN(p.V) {
			s += p.V
		}
	}
	return s
}

func jsonNum(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
