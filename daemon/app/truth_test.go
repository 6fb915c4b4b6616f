package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/graph"
	"github.com/canopy-dev/canopy/daemon/testenv"
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
	d := startDaemon(t, cfg)
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

// checkStale: pts have values while the gauge was pushed (about every
// step until the last push, 3 ticks before stale) and none from stale (ms)
// on. How many steps the pushes cover depends on the step the reader
// chose for the window, which grows when a loaded machine stretches it.
func checkStale(t *testing.T, where string, pts []trend.Point, stale int64) {
	t.Helper()
	want := 5
	if len(pts) > 1 {
		step := pts[1].T - pts[0].T
		if n := int((stale-pts[0].T)/step) - 3; n < want {
			want = max(n, 1)
		}
	}
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
	if values < want || after > 0 || nulls < 3 {
		t.Errorf("%s: %d values before the stale time, %d after it, %d nulls after it; want >= %d, 0, >= 3\n%v", where, values, after, nulls, want, pts)
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

// TestGraphiteBackfill: a carbon sender catching up sends lines with their
// own past times; /trend reads them back at those times, minute after
// minute, while lines outside the window are refused and counted in
// /status and /metrics.
func TestGraphiteBackfill(t *testing.T) {
	d, gaddr := graphiteDaemon(t, "")
	defer d.Stop()
	now := time.Now().Truncate(time.Minute)
	var b strings.Builder
	for i := 0; i < 10; i++ { // 30 to 21 minutes ago, one a minute
		fmt.Fprintf(&b, "app.load %d %d\n", 10+i, now.Add(time.Duration(i-30)*time.Minute).Unix())
	}
	fmt.Fprintf(&b, "app.load 99 %d\n", now.Add(-2*time.Hour).Unix()) // older than max_age
	fmt.Fprintf(&b, "app.load 99 %d\n", now.Add(time.Hour).Unix())    // an hour ahead
	sendTCP(t, gaddr, b.String())
	base := "http://" + d.Addr()
	var st struct {
		Listeners []map[string]any `json:"listeners"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		getJSON(t, base+"/status", &st)
		if len(st.Listeners) == 1 && st.Listeners[0]["backfilled_lines"] == float64(10) && st.Listeners[0]["timestamp_refused_lines"] == float64(2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status listeners = %v, want 10 backfilled and 2 refused", st.Listeners)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := d.trend.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var res trend.Result
	getJSON(t, base+"/trend/graphite,app,load?fn=last&from="+fmt.Sprint(now.Add(-31*time.Minute).Unix())+"&until="+url.QueryEscape(now.Add(-20*time.Minute-time.Millisecond).Format(time.RFC3339Nano))+"&points=11", &res)
	if len(res.Series) != 1 {
		t.Fatalf("/trend: %+v", res)
	}
	got := map[int64]float64{}
	for _, p := range res.Series[0].Points {
		if !math.IsNaN(p.V) {
			got[(p.T-now.UnixMilli())/60000] = p.V
		}
	}
	for i := 0; i < 10; i++ {
		if v := got[int64(i-30)]; v != float64(10+i) {
			t.Errorf("minute %d: %v, want %d (all: %v)", i-30, v, 10+i, got)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `canopy_listen_timestamp_refused_total{listen="` + gaddr + `",proto="tcp"} 2`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// graphiteDaemon starts a daemon with a 1 s tick and a TCP Graphite
// listener (max_age 1h, plus opts, "key: value, " pairs); it returns the
// daemon and the listener's address.
func graphiteDaemon(t *testing.T, opts string) (*Daemon, string) {
	gaddr := testenv.FreePort(t)
	file, err := config.Parse([]byte("listeners:\n  - {proto: tcp, listen: \""+gaddr+"\", format: graphite, "+opts+"max_age: 1h}\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Pipes: PipeFlags{Dir: t.TempDir()}, File: file,
		Ingest: IngestFlags{Poll: 50 * time.Millisecond},
		Trend:  &trend.Flags{Interval: time.Second, Retention: trend.Duration(24 * time.Hour), Memory: 32 << 20}}
	return startDaemon(t, cfg), gaddr
}

// TestGraphiteCountsAtTheirTimes: an add listener's lines with past
// timestamps count in the tree and, read back from /trend, at their own
// minutes, not at the moment they arrived.
func TestGraphiteCountsAtTheirTimes(t *testing.T) {
	d, gaddr := graphiteDaemon(t, "action: add, ")
	defer d.Stop()
	start := time.Now()
	now := start.Truncate(time.Minute)
	var b strings.Builder
	total := 0
	for i := range 10 { // 30 to 21 minutes ago, i+1 a minute
		fmt.Fprintf(&b, "app.hits %d %d\n", i+1, now.Add(time.Duration(i-30)*time.Minute).Unix())
		total += i + 1
	}
	sendTCP(t, gaddr, b.String())
	base := "http://" + d.Addr()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var e []map[string]float64
		getJSON(t, base+"/get/graphite,app,hits", &e)
		if len(e) == 1 && e[0]["graphite,app,hits"] == float64(total) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/get/graphite,app,hits = %v, want %d", e, total)
		}
	}
	time.Sleep(3 * time.Second) // the ticks that write the late counts
	if err := d.trend.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	read := func(from, until time.Time, points int) []trend.Point {
		var res trend.Result
		q := url.Values{"key": {"graphite,app,hits"}, "as": {"count"}, "points": {fmt.Sprint(points)},
			"from": {from.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}
		getJSON(t, base+"/trend?"+q.Encode(), &res)
		if len(res.Series) != 1 {
			t.Fatalf("/trend?%s: %+v", q.Encode(), res)
		}
		return res.Series[0].Points
	}
	for i, p := range read(now.Add(-30*time.Minute), now.Add(-20*time.Minute-time.Millisecond), 10) {
		if p.V != float64(i+1) {
			t.Errorf("minute %d: %v counts, want %d", i-30, p.V, i+1)
		}
	}
	if got := sum(read(start.Add(-time.Second), time.Now(), 10)); got != 0 {
		t.Errorf("the ticks since the lines arrived count %v, want 0 (they are history)", got)
	}
}

// TestMetricsPromtool: /metrics of a daemon that has taken file lines,
// socket pushes and HTTP pushes, read over several ticks, passes
// `promtool check metrics` without a word; running totals are counters
// named _total; lines of every source count in canopy_ingest_lines_total
// and pushes by input in canopy_pushes_total.
func TestMetricsPromtool(t *testing.T) {
	promtool := testenv.NeedCommand(t, "promtool", "prometheus")
	dir := t.TempDir()
	logPath := dir + "/access.log"
	line := `10.0.0.1 - - [06/Dec/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8"` + "\n"
	if err := os.WriteFile(logPath, []byte(strings.Repeat(line, 5)), 0o644); err != nil {
		t.Fatal(err)
	}
	jaddr := testenv.FreePort(t)
	file, err := config.Parse([]byte("listeners:\n  - {proto: tcp, listen: \""+jaddr+"\", format: json}\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listen: "127.0.0.1:0", DataDir: dir, Pipes: PipeFlags{Dir: t.TempDir()}, File: file,
		Ingest: IngestFlags{Poll: 50 * time.Millisecond, Log: logPath},
		Trend:  &trend.Flags{Interval: 200 * time.Millisecond, Retention: trend.Duration(24 * time.Hour), Memory: 32 << 20}}
	d := startDaemon(t, cfg)
	defer d.Stop()
	base := "http://" + d.Addr()
	c, err := net.Dial("tcp", jaddr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, `{"a": 1, "defaultaction": "add"}`+"\n"+`{"a": 2}`+"\n")
	c.Close()
	resp, err := http.Post(base+"/push", "application/json", strings.NewReader(`{"b": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var body string
	deadline := time.Now().Add(15 * time.Second)
	for {
		time.Sleep(200 * time.Millisecond) // a tick
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, `canopy_ingest_lines_total{source="file"} 5`) && strings.Contains(body, `canopy_ingest_lines_total{source="tcp"} 2`) &&
			strings.Contains(body, `canopy_trend_ticks_total`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics after 15 s:\n%s", body)
		}
	}
	for _, want := range []string{
		`canopy_ingest_lines_total{source="http"} 1`,
		`canopy_pushes_total{input="http"} 1`,
		`canopy_pushes_total{input="tcp"} 2`,
		"# TYPE canopy_trend_points_written_total counter",
		"# TYPE canopy_ingest_lines_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// sendTCP writes text to a TCP listener at addr in one connection.
func sendTCP(t *testing.T, addr, text string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, text); err != nil {
		t.Fatal(err)
	}
}
