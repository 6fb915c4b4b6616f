package trend

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend/trendtest"
)

// backend opens a fresh Store for one test.
type backend struct {
	name string
	open func(t *testing.T, opt Options) *Store
}

func embeddedBackend() backend {
	return backend{name: "embedded", open: func(t *testing.T, opt Options) *Store {
		t.Helper()
		be, err := OpenEmbedded(t.TempDir(), 365*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		opt.Backend = be
		s := New(opt)
		t.Cleanup(func() { s.Close() })
		return s
	}}
}

// remoteBackends share one server: "remote" reads raw points, as for short
// ranges; "remote-rollup" has the server downsample every range, as for
// long ones.
func remoteBackends(t *testing.T) []backend {
	var once sync.Once
	var url string
	open := func(rollupMinSpan time.Duration) func(t2 *testing.T, opt Options) *Store {
		return func(t2 *testing.T, opt Options) *Store {
			t2.Helper()
			once.Do(func() { url = trendtest.StartVictoriaMetrics(t) })
			be, err := OpenRemote(url, "")
			if err != nil {
				t2.Fatal(err)
			}
			be.rollupMinSpan = rollupMinSpan
			opt.Backend = be
			s := New(opt)
			t2.Cleanup(func() { s.Close() })
			return s
		}
	}
	return []backend{{name: "remote", open: open(math.MaxInt64)}, {name: "remote-rollup", open: open(0)}}
}

// uniq gives each subtest its own key root, so subtests can share one
// remote server.
func uniq(t *testing.T) string {
	return strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
}

func flush(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func query(t *testing.T, s *Store, key string, from, until time.Time, points int, fn Fn) *Result {
	t.Helper()
	res, err := s.Query(context.Background(), key, from, until, points, fn)
	if err != nil {
		t.Fatalf("Query(%q): %v", key, err)
	}
	return res
}

// counts reads key's counts per bucket (as=count).
func counts(t *testing.T, s *Store, key string, from, until time.Time, points int) *Result {
	t.Helper()
	res, err := s.Read(context.Background(), key, ReadOptions{From: from, Until: until, Points: points, As: AsCount})
	if err != nil {
		t.Fatalf("Read(%q): %v", key, err)
	}
	return res
}

// valued drops the points without a value.
func valued(pts []Point) []Point {
	var out []Point
	for _, p := range pts {
		if !math.IsNaN(p.V) {
			out = append(out, p)
		}
	}
	return out
}

// sumPoints adds the values of the points that have one.
func sumPoints(s Series) float64 {
	var t float64
	for _, p := range s.Points {
		if !math.IsNaN(p.V) {
			t += p.V
		}
	}
	return t
}

func seriesKeys(r *Result) []string {
	var ks []string
	for _, s := range r.Series {
		ks = append(ks, s.Key)
	}
	return ks
}

// TestBackends runs the same suite against the embedded store and a real
// VictoriaMetrics server.
func TestBackends(t *testing.T) {
	for _, b := range append([]backend{embeddedBackend()}, remoteBackends(t)...) {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range suite {
				t.Run(c.name, func(t *testing.T) { c.run(t, b) })
			}
		})
	}
}

var base = time.Now().Add(-3 * time.Hour).Truncate(time.Hour)

var suite = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"CounterRateSumsToTotal", testCounterRate},
	{"GaugeFunctions", testGaugeFns},
	{"Wildcards", testWildcards},
	{"Markers", testMarkers},
	{"Keys", testKeys},
	{"CounterReset", testCounterReset},
	{"RetentionRefused", testRetention},
	{"TreeTicks", testTreeTicks},
	{"Graphite", testGraphite},
	{"RestartBaseline", testRestartBaseline},
	{"ZoomIndependent", testZoom},
	{"GaugeGoesStale", testGaugeStale},
	{"RewriteCountsOnce", testRewrite},
	{"LateBacklog", testLateBacklog},
	{"LateAfterRestart", testLateAfterRestart},
	{"LateBetweenTicks", testLateBetweenTicks},
	{"LateRestartMidInterval", testLateRestartMidInterval},
	{"LateUnderLive", testLateUnderLive},
}

// testRewrite: the same points written twice (a replay killed and run
// again over the same log writes them at the lines' own times) read as
// written once: a gauge's sum and avg, a counter's count.
func testRewrite(t *testing.T, b backend) {
	s := b.open(t, Options{})
	gauge, counter := uniq(t)+",load", uniq(t)+",hits"
	var rows []Row
	for i := range 6 {
		ts := base.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
		rows = append(rows, Row{Key: gauge, Kind: Gauge, TS: ts, Value: float64(i + 1)},
			Row{Key: counter, Kind: Counter, TS: ts, Value: float64(10 * i)})
	}
	for range 2 { // flushed in between: the copies sit in different parts
		if err := s.WriteRows(slices.Clone(rows)); err != nil {
			t.Fatal(err)
		}
		flush(t, s)
	}
	from, until := base, base.Add(time.Minute-time.Millisecond)
	for _, c := range []struct {
		key  string
		fn   Fn
		want float64
	}{{gauge, FnSum, 21}, {gauge, FnAvg, 3.5}, {counter, FnSum, 50}} {
		res := query(t, s, c.key, from, until, 1, c.fn)
		if len(res.Series) != 1 || len(res.Series[0].Points) != 1 {
			t.Fatalf("%s fn=%s: got %+v, want one series with one point", c.key, c.fn, res.Series)
		}
		if got := res.Series[0].Points[0].V; got != c.want {
			t.Errorf("%s fn=%s over points written twice: got %v, want %v", c.key, c.fn, got, c.want)
		}
	}
}

// testZoom: the same hour of a counter (with a reset in it) read at
// 1-minute, 10-minute and 1-hour steps gives the same count, the same
// mean rate and the same final total.
func testZoom(t *testing.T, b backend) {
	s := b.open(t, Options{})
	key := uniq(t) + ",hits"
	hour := base.Add(-time.Hour)
	rows := []Row{{Key: key, Kind: Counter, TS: hour.Add(-5 * time.Minute).UnixMilli(), Value: 1000}}
	total, count := 1000.0, 0.0
	for i := 1; i < 360; i++ { // every 10 s, not on bucket edges
		n := float64(i%5 + 1)
		if i == 200 && b.name != "remote-rollup" {
			// A restart without the snapshot. (The server's roll-ups lose
			// a bucket's increments before a reset inside it: README.)
			total = 0
		}
		total += n
		count += n
		rows = append(rows, Row{Key: key, Kind: Counter, TS: hour.Add(time.Duration(i)*10*time.Second - 3*time.Second).UnixMilli(), Value: total})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	until := hour.Add(time.Hour - time.Millisecond)
	for _, step := range []time.Duration{time.Minute, 10 * time.Minute, time.Hour} {
		read := func(as As) Series {
			res, err := s.Read(context.Background(), key, ReadOptions{From: hour, Until: until, Step: step, As: as})
			if err != nil || len(res.Series) != 1 {
				t.Fatalf("step %s as=%s: %+v %v", step, as, res, err)
			}
			if n := len(res.Series[0].Points); n != int(time.Hour/step) {
				t.Fatalf("step %s: %d points, want %d", step, n, time.Hour/step)
			}
			return res.Series[0]
		}
		c, r, tot := read(AsCount), read(AsRate), read(AsTotal)
		if got := sumPoints(c); got != count {
			t.Errorf("step %s: count = %v, want %v", step, got, count)
		}
		for _, p := range c.Points {
			if p.V < 0 {
				t.Errorf("step %s: negative count %v", step, p)
			}
		}
		if got, want := sumPoints(r)/float64(len(r.Points)), count/3600; math.Abs(got-want) > 1e-9 {
			t.Errorf("step %s: mean rate = %v/s, want %v/s", step, got, want)
		}
		if got := tot.Points[len(tot.Points)-1].V; got != total {
			t.Errorf("step %s: total at the hour's end = %v, want %v", step, got, total)
		}
	}
}

// testGaugeStale: a gauge pushed for a few ticks and then silent reads as
// values while it was pushed and null from two ticks after its last
// sample, over several more ticks, while a counter beside it reads 0.
func testGaugeStale(t *testing.T, b backend) {
	clock := base
	s := b.open(t, Options{Interval: 10 * time.Second, Now: func() time.Time { return clock }})
	p := uniq(t)
	tr := tree.New()
	version := s.Follow(tr).version
	for i := 0; i < 12; i++ {
		if i < 4 {
			body := fmt.Sprintf(`[{%q: {"load": %d}, "defaultaction": "average"}, {"%s_c": {"n": 1}, "defaultaction": "add"}]`, p, 10+i, p)
			if _, err := push.Merge(tr, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		clock = clock.Add(10 * time.Second)
		version = s.WriteChanges(tr, version, s.Now())
		tr.Tick()
	}
	flush(t, s)
	for _, step := range []time.Duration{5 * time.Second, 10 * time.Second} {
		res, err := s.Read(context.Background(), p+",load", ReadOptions{From: base, Until: clock, Step: step})
		if err != nil || len(res.Series) != 1 {
			t.Fatalf("step %s: %+v %v", step, res, err)
		}
		lastSample := base.Add(40 * time.Second).UnixMilli()
		for _, pt := range res.Series[0].Points {
			switch {
			case pt.T >= base.Add(10*time.Second).UnixMilli() && pt.T+step.Milliseconds() <= lastSample+20_000 && math.IsNaN(pt.V):
				t.Errorf("step %s: no value at %d, inside the stale time", step, pt.T-base.UnixMilli())
			case pt.T >= lastSample+20_000 && !math.IsNaN(pt.V):
				t.Errorf("step %s: value %v at %d s, after the gauge went stale", step, pt.V, (pt.T-base.UnixMilli())/1000)
			}
		}
	}
	c := counts(t, s, p+"_c,n", base, clock, 12)
	if got := sumPoints(c.Series[0]); got != 4 {
		t.Errorf("counter beside it: %v, want 4 (the first increment included)", got)
	}
	if last := c.Series[0].Points[len(c.Series[0].Points)-1]; last.V != 0 {
		t.Errorf("a quiet counter reads %v, want 0", last)
	}
}

func testCounterRate(t *testing.T, b backend) {
	s := b.open(t, Options{})
	key := uniq(t) + ",requests"
	// A series' first point is a baseline; a new counter starts at 0.
	rows := []Row{{Key: key, Kind: Counter, TS: base.Add(-time.Second).UnixMilli()}}
	total := 0.0
	for i := 0; i < 2000; i++ {
		total += float64(i%7 + 1)
		rows = append(rows, Row{Key: key, Kind: Counter, TS: base.Add(time.Duration(i) * 10 * time.Second).UnixMilli(), Value: total})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	from, until := base.Add(-time.Minute), base.Add(2000*10*time.Second)
	for _, points := range []int{1, 7, 50, 1000, 5000} {
		res := counts(t, s, key, from, until, points)
		if len(res.Series) != 1 {
			t.Fatalf("points=%d: got %d series, want 1", points, len(res.Series))
		}
		sr := res.Series[0]
		if got := sumPoints(sr); got != total {
			t.Errorf("points=%d: sum of rate = %v, want %v", points, got, total)
		}
		if len(sr.Points) > points {
			t.Errorf("points=%d: got %d points", points, len(sr.Points))
		}
		if sr.Kind != "counter" || sr.As != AsCount {
			t.Errorf("kind/as = %s/%s, want counter/count", sr.Kind, sr.As)
		}
		// Rate is per second: times the step it gives the counts back.
		rate := query(t, s, key, from, until, points, FnAuto)
		if got := sumPoints(rate.Series[0]) * float64(rate.StepMS) / 1000; math.Abs(got-total) > 1e-6*total {
			t.Errorf("points=%d: sum of rate × step = %v, want %v", points, got, total)
		}
	}
	// fn=sum is the count; last reads the running total.
	if got := sumPoints(query(t, s, key, from, until, 100, FnSum).Series[0]); got != total {
		t.Errorf("fn=sum: sum = %v, want %v", got, total)
	}
	last := query(t, s, key, from, until, 10, FnLast).Series[0]
	if got := last.Points[len(last.Points)-1].V; got != total {
		t.Errorf("fn=last: last = %v, want %v", got, total)
	}
	// A range starting mid-way counts only increments inside it.
	mid := base.Add(1000 * 10 * time.Second)
	want := 0.0
	for i := 1000; i < 2000; i++ {
		want += float64(i%7 + 1)
	}
	if got := sumPoints(counts(t, s, key, mid, until, 10).Series[0]); got != want {
		t.Errorf("half range: sum = %v, want %v", got, want)
	}
}

func testGaugeFns(t *testing.T, b backend) {
	s := b.open(t, Options{})
	key := uniq(t) + ",load"
	vals := []float64{3, 1.5, 4, 1, 5.25, 9, 2, 6}
	var rows []Row
	for i, v := range vals {
		rows = append(rows, Row{Key: key, Kind: Gauge, TS: base.Add(time.Duration(i) * time.Second).UnixMilli(), Value: v})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	from, until := base, base.Add(8*time.Second-time.Millisecond)
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	for _, c := range []struct {
		fn   Fn
		want float64
	}{
		{FnAvg, sum / 8}, {FnAuto, sum / 8}, {FnMax, 9}, {FnMin, 1}, {FnLast, 6}, {FnSum, sum},
		{FnRate, 6 - 3}, // the first point in range has nothing before it
	} {
		res := query(t, s, key, from, until, 1, c.fn)
		if len(res.Series) != 1 || len(res.Series[0].Points) != 1 {
			t.Fatalf("fn=%s: got %+v, want one series with one point", c.fn, res.Series)
		}
		if got := res.Series[0].Points[0].V; math.Abs(got-c.want) > 1e-9 {
			t.Errorf("fn=%s: got %v, want %v", c.fn, got, c.want)
		}
	}
	// One point per second: every raw value comes back at its own time.
	res := query(t, s, key, from, until, 8, FnAvg)
	if n := len(res.Series[0].Points); n != 8 {
		t.Fatalf("points=8: got %d points", n)
	}
	for i, p := range res.Series[0].Points {
		if p.V != vals[i] || p.T != base.Add(time.Duration(i)*time.Second).UnixMilli() {
			t.Errorf("point %d = %v, want [%d %v]", i, p, base.Add(time.Duration(i)*time.Second).UnixMilli(), vals[i])
		}
	}
	// A gauge's last sample stands for the stale time (two ticks, 20 s)
	// and then has no value: 1 s buckets up to 26 s repeat it, later ones
	// are null.
	res = query(t, s, key, from, base.Add(time.Minute-time.Millisecond), 60, FnAvg)
	pts := res.Series[0].Points
	if len(pts) != 60 {
		t.Fatalf("60 one-second buckets: got %d points", len(pts))
	}
	if pts[26].V != 6 || !math.IsNaN(pts[27].V) || !math.IsNaN(pts[59].V) {
		t.Errorf("after the last sample at 7 s: 26 s = %v, 27 s = %v, 59 s = %v; want 6, null, null", pts[26], pts[27], pts[59])
	}
}

func testWildcards(t *testing.T, b backend) {
	s := b.open(t, Options{})
	p := uniq(t)
	keys := []string{p + ",br", p + ",br,ie,7", p + ",br,ie,10", p + ",br,ff,3", p + ",x%2Cy", p + `,q "u"\ é`, p + ",brx,ie,7"}
	var rows []Row
	for i, k := range keys {
		rows = append(rows, Row{Key: k, Kind: Gauge, TS: base.UnixMilli(), Value: float64(i)})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	for _, c := range []struct {
		key  string
		want []string
	}{
		{p + ",br,ie,*", []string{p + ",br,ie,10", p + ",br,ie,7"}},
		{p + ",br,,7", []string{p + ",br,ie,7"}},
		{p + ",br,**", []string{p + ",br", p + ",br,ff,3", p + ",br,ie,10", p + ",br,ie,7"}},
		{p + ",br,ie,1*", []string{p + ",br,ie,10"}},
		{p + ",br,ie,[17]*", []string{p + ",br,ie,10", p + ",br,ie,7"}},
		{p + ",*,ie,7", []string{p + ",br,ie,7", p + ",brx,ie,7"}},
		{p + ",**,7", []string{p + ",br,ie,7", p + ",brx,ie,7"}},
		{p + ",x%2Cy", []string{p + ",x%2Cy"}},
		{p + `,q "u"\ é`, []string{p + `,q "u"\ é`}},
		{p + ",br", []string{p + ",br"}},
		{p + ",nothing", nil},
	} {
		res := query(t, s, c.key, base.Add(-time.Minute), base.Add(time.Minute), 10, FnLast)
		if got := seriesKeys(res); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%q: got %q, want %q", c.key, got, c.want)
		}
	}
}

func testMarkers(t *testing.T, b backend) {
	s := b.open(t, Options{})
	p := uniq(t)
	rows := []Row{
		{Key: p + ",cpu,h1,idle", Kind: Gauge, TS: base.UnixMilli(), Value: 32},
		{Key: p + ",cpu,h1,idle", Kind: Gauge, TS: base.Add(10 * time.Second).UnixMilli(), Value: 30},
		{Key: p + ",cpu,h1,marker", Kind: Marker, TS: base.Add(5 * time.Second).UnixMilli(), Text: "sth. wrong happened"},
		{Key: p + ",cpu,h2,marker", Kind: Marker, TS: base.Add(5 * time.Second).UnixMilli(), Text: "elsewhere"},
		{Key: p + ",cpu,h1,marker", Kind: Marker, TS: base.Add(time.Hour).UnixMilli(), Text: "outside the range"},
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	res := query(t, s, p+",cpu,h1,idle", base, base.Add(time.Minute), 10, FnAvg)
	want := []MarkerEvent{{Key: p + ",cpu,h1,marker", T: base.Add(5 * time.Second).UnixMilli(), Text: "sth. wrong happened"}}
	if fmt.Sprint(res.Markers) != fmt.Sprint(want) {
		t.Errorf("markers = %+v, want %+v", res.Markers, want)
	}
	res = query(t, s, p+",cpu,**", base, base.Add(time.Minute), 10, FnAvg)
	if len(res.Markers) != 2 {
		t.Errorf("markers under cpu = %+v, want 2", res.Markers)
	}
}

func testKeys(t *testing.T, b backend) {
	s := b.open(t, Options{})
	p := uniq(t)
	want := []string{p + ",a", p + ",a,b", p + ",c"}
	var rows []Row
	for _, k := range want {
		rows = append(rows, Row{Key: k, Kind: Counter, TS: base.UnixMilli(), Value: 1})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	got, err := s.Keys(context.Background(), p+",**", base.Add(-time.Hour), base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("keys = %q, want %q", got, want)
	}
}

func testCounterReset(t *testing.T, b backend) {
	s := b.open(t, Options{})
	key := uniq(t) + ",n"
	var rows []Row
	for i, v := range []float64{0, 10, 20, 5, 15} {
		rows = append(rows, Row{Key: key, Kind: Counter, TS: base.Add(time.Duration(i) * 10 * time.Second).UnixMilli(), Value: v})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	res := counts(t, s, key, base, base.Add(time.Minute), 100)
	for _, p := range res.Series[0].Points {
		if p.V < 0 {
			t.Errorf("negative count %v across a reset", p)
		}
	}
	if got := sumPoints(res.Series[0]); got != 35 {
		t.Errorf("rate across a reset: sum = %v, want 10+10+5+10 = 35", got)
	}
}

func testRetention(t *testing.T, b backend) {
	s := b.open(t, Options{Retention: 24 * time.Hour})
	key := uniq(t) + ",old"
	err := s.WriteAt(time.Now().Add(-48*time.Hour), []tree.Entry{{Key: key, Value: 1}})
	var de *DroppedError
	if !errors.As(err, &de) || de.N != 1 || !strings.Contains(err.Error(), "1 trend points") {
		t.Errorf("writing before the retention: err = %v, want one point dropped", err)
	}
	err = s.WriteAt(time.Now().Add(72*time.Hour), []tree.Entry{{Key: key, Value: 1}})
	if err == nil {
		t.Errorf("writing three days ahead: no error")
	}
	if err := s.WriteAt(time.Now().Add(-time.Hour), []tree.Entry{{Key: key, Value: 1}}); err != nil {
		t.Errorf("writing inside the retention: %v", err)
	}
	if got := s.Status()["points_refused"]; got != uint64(2) {
		t.Errorf("points_refused = %v, want 2", got)
	}
}

// testTreeTicks drives the real tree: counters and averages change, each
// tick writes what changed, and reads add up.
func testTreeTicks(t *testing.T, b backend) {
	clock := base
	s := b.open(t, Options{Interval: 10 * time.Second, Now: func() time.Time { return clock }})
	p := uniq(t)
	tr := tree.New()
	var version uint64
	total := 0.0
	for i := 0; i < 30; i++ {
		n := float64(i%4 + 1)
		total += n
		body := fmt.Sprintf(`[{%q: {"requests": %v}, "defaultaction": "add"}, {"%s_cpu": {"idle": %d}, "defaultaction": "average"}]`, p, n, p, 50+i)
		if _, err := push.Merge(tr, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			// A marker now and then.
			if _, err := push.Merge(tr, []byte(fmt.Sprintf(`{"%s_cpu": {"marker": "tick %d"}}`, p, i))); err != nil {
				t.Fatal(err)
			}
		}
		clock = clock.Add(10 * time.Second)
		version = s.WriteChanges(tr, version, s.Now())
		tr.Tick()
	}
	flush(t, s)
	res := counts(t, s, p+",requests", base, clock, 1000)
	if len(res.Series) != 1 || sumPoints(res.Series[0]) != total {
		t.Fatalf("requests: got %+v, want one series summing to %v", res.Series, total)
	}
	res = query(t, s, p+"_cpu,idle", base, clock, 1000, FnLast)
	if len(res.Series) != 1 || res.Series[0].Kind != "gauge" {
		t.Fatalf("cpu idle: got %+v, want one gauge", res.Series)
	}
	if pts := valued(res.Series[0].Points); pts[0].V != 50 || pts[len(pts)-1].V != 79 {
		t.Errorf("cpu idle: from %v to %v, want 50 to 79", pts[0], pts[len(pts)-1])
	}
	if len(res.Markers) != 10 {
		t.Errorf("cpu markers: got %d, want 10", len(res.Markers))
	}
}

// testGraphite reads the tree as Grafana's Graphite data source does:
// level by level, then render. (The HTTP side is in daemon/api.)
func testGraphite(t *testing.T, b backend) {
	s := b.open(t, Options{})
	p := uniq(t)
	rows := []Row{
		{Key: p + ",br,ie,7", Kind: Counter, TS: base.UnixMilli() - 1},
		{Key: p + ",br,webkit,14.0", Kind: Counter, TS: base.UnixMilli() - 1},
	}
	for i := 0; i < 60; i++ {
		ts := base.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
		rows = append(rows,
			Row{Key: p + ",br,ie,7", Kind: Counter, TS: ts, Value: float64(2 * (i + 1))},
			Row{Key: p + ",br,webkit,14.0", Kind: Counter, TS: ts, Value: float64(i + 1)})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	ctx := context.Background()
	from, until := base, base.Add(10*time.Minute)

	nodes, err := s.FindGraphite(ctx, p+".br.*", from, until)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(nodes) != fmt.Sprint([]FindNode{
		{ID: p + ".br.ie", Text: "ie", Expandable: 1, AllowChildren: 1},
		{ID: p + ".br.webkit", Text: "webkit", Expandable: 1, AllowChildren: 1},
	}) {
		t.Errorf("find %s.br.*: %+v", p, nodes)
	}
	nodes, err = s.FindGraphite(ctx, p+".br.webkit.*", from, until)
	if err != nil || len(nodes) != 1 || nodes[0].ID != p+".br.webkit.14%2E0" || nodes[0].Leaf != 1 {
		t.Errorf("find webkit.*: %+v %v", nodes, err)
	}
	rendered, err := s.RenderGraphite(ctx, p+".br.{ie,webkit}.*", from, until, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(rendered) != 2 || rendered[1].Target != p+".br.webkit.14%2E0" {
		t.Fatalf("render: %+v", rendered)
	}
	// Counters render as rates per second: times the step they sum to the
	// count.
	total := 0.0
	step := rendered[0].Datapoints[1][1].(int64) - rendered[0].Datapoints[0][1].(int64)
	for _, dp := range rendered[0].Datapoints {
		if v, ok := dp[0].(float64); ok {
			total += v * float64(step)
		}
		// Buckets are aligned to their width, so the first may start a
		// little before base; milliseconds would be 1000 times off.
		if ts := dp[1].(int64); ts < base.Unix()-600 || ts > base.Unix()+1200 {
			t.Errorf("render timestamp %v is not unix seconds in range", ts)
		}
	}
	if math.Abs(total-120) > 1e-9 {
		t.Errorf("render br.ie.7: rate × step sums to %v, want 120", total)
	}
	for _, bad := range []string{"sumSeries(a.b)", "a..b", "a.{b", "constantLine(x)"} {
		if _, err := s.RenderGraphite(ctx, bad, from, until, 20); !errors.Is(err, ErrBadQuery) {
			t.Errorf("render %q: %v, want ErrBadQuery", bad, err)
		}
	}
	if _, err := s.FindGraphite(ctx, "", from, until); !errors.Is(err, ErrBadQuery) {
		t.Errorf("find of nothing: %v, want ErrBadQuery", err)
	}
}

// TestRemoteOutage: points written while the server is down are kept and
// retried until it comes up.
func TestRemoteOutage(t *testing.T) {
	addr := testenv.FreePort(t)
	be, err := OpenRemote("http://"+addr, "")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Backend: be, Logf: t.Logf})
	defer s.Close()
	rows := []Row{{Key: "outage", Kind: Counter, TS: base.UnixMilli() - 1}}
	for i := 0; i < 10; i++ {
		rows = append(rows, Row{Key: "outage", Kind: Counter, TS: base.Add(time.Duration(i) * time.Second).UnixMilli(), Value: float64(i + 1)})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Status()["write_errors"] == uint64(0) {
		if time.Now().After(deadline) {
			t.Fatal("no write error while the server is down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	trendtest.StartVictoriaMetricsOn(t, addr)
	flush(t, s)
	res := counts(t, s, "outage", base.Add(-time.Minute), base.Add(time.Minute), 10)
	if len(res.Series) != 1 || sumPoints(res.Series[0]) != 10 {
		t.Errorf("after the outage: %+v, want the 10 counts", res.Series)
	}
	if got := s.Status()["points_dropped"]; got != uint64(0) {
		t.Errorf("points_dropped = %v, want 0", got)
	}
}

// testRestartBaseline: a daemon restarted two hours after its last point,
// with its tree restored, neither invents the counts it missed nor shows
// the whole total as one increment.
func testRestartBaseline(t *testing.T, b backend) {
	clock := base
	s := b.open(t, Options{Now: func() time.Time { return clock }})
	p := uniq(t)
	// History before the stop: 0 -> 990 over the hour before base-2h.
	rows := []Row{{Key: p + ",requests", Kind: Counter, TS: base.Add(-3 * time.Hour).UnixMilli()}}
	for i := 1; i <= 99; i++ {
		rows = append(rows, Row{Key: p + ",requests", Kind: Counter, TS: base.Add(-3*time.Hour + time.Duration(i)*30*time.Second).UnixMilli(), Value: float64(10 * i)})
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	tr := tree.New()
	if _, err := push.Merge(tr, []byte(fmt.Sprintf(`{%q: {"requests": 1000, "marker": "set long ago"}, "defaultaction": "add"}`, p))); err != nil {
		t.Fatal(err)
	}
	version := s.Baseline(tr)
	if _, err := push.Merge(tr, []byte(fmt.Sprintf(`{%q: {"requests": 5}, "defaultaction": "add"}`, p))); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Second)
	s.WriteChanges(tr, version, s.Now())
	tr.Tick()
	flush(t, s)
	res := counts(t, s, p+",requests", base.Add(-4*time.Hour), base.Add(time.Minute), 500)
	if len(res.Series) != 1 || sumPoints(res.Series[0]) != 995 {
		t.Fatalf("rate across the restart: %+v, want 990 before and 5 after", res.Series)
	}
	after := counts(t, s, p+",requests", base.Add(-time.Minute), base.Add(time.Minute), 10)
	if got := sumPoints(after.Series[0]); got != 5 {
		t.Errorf("rate after the restart = %v, want 5", got)
	}
	if len(after.Markers) != 0 {
		t.Errorf("markers restored with the tree were written again: %+v", after.Markers)
	}
}
