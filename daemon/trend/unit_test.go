package trend

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/key"
)

func TestCompileKey(t *testing.T) {
	for _, c := range []struct {
		key        string
		exact      bool
		match, not []string
	}{
		{"br,ie,7", true, []string{"br,ie,7"}, []string{"br,ie,70", "br,ie"}},
		{"br,ie,*", false, []string{"br,ie,7", "br,ie,10"}, []string{"br,ie", "br,ie,7,x"}},
		{"br,,7", false, []string{"br,ie,7", "br,ff,7"}, []string{"br,7", "br,a,b,7"}},
		{"br,**", false, []string{"br", "br,ie", "br,ie,7,venders,sogou"}, []string{"brx", "bra,ie"}},
		{"**,7", false, []string{"7", "br,ie,7"}, []string{"br,ie,70"}},
		{"**", false, []string{"a", "a,b,c"}, nil},
		{"a,**,**,z", false, []string{"a,z", "a,b,z", "a,b,c,z"}, []string{"a,zz"}},
		{"br,ie,1*", false, []string{"br,ie,1", "br,ie,10"}, []string{"br,ie,2", "br,ie,1,0"}},
		{"br,ie,?", false, []string{"br,ie,7"}, []string{"br,ie,10"}},
		{"br,ie,[!1]", false, []string{"br,ie,7"}, []string{"br,ie,1"}},
		{"x%2Cy,a.b", true, []string{"x%2Cy,a.b"}, []string{"x%2Cy,aXb"}},
		{"a+b,(c)", true, []string{"a+b,(c)"}, []string{"aab,c"}},
	} {
		m, err := compileKey(c.key)
		if err != nil {
			t.Errorf("compileKey(%q): %v", c.key, err)
			continue
		}
		if m.Exact != c.exact {
			t.Errorf("compileKey(%q).Exact = %v, want %v", c.key, m.Exact, c.exact)
		}
		for _, k := range c.match {
			if !m.Match(k) {
				t.Errorf("%q does not match %q", c.key, k)
			}
		}
		for _, k := range c.not {
			if m.Match(k) {
				t.Errorf("%q matches %q", c.key, k)
			}
		}
	}
	for _, bad := range []string{"", "br,[", "br,[]"} {
		if _, err := compileKey(bad); err == nil {
			t.Errorf("compileKey(%q): no error", bad)
		}
	}
}

func FuzzMatcher(f *testing.F) {
	for _, s := range []string{"br,ie,7", "br,**", "**,x", "a,,b", "a,[b-c]*,?", "x%2Cy", "[", "a,**,**"} {
		f.Add(s, "br,ie,7")
	}
	f.Fuzz(func(t *testing.T, key, k string) {
		m, err := compileKey(key)
		if err != nil {
			return
		}
		_ = m.Match(k)
		if m.Exact && m.Match(k) != (k == key) {
			t.Errorf("exact %q vs %q", key, k)
		}
		// Every compiled pattern is a valid selector for both backends.
		if !strings.HasPrefix(selector(metricNumbers, m), "{__name__=") {
			t.Errorf("bad selector for %q", key)
		}
	})
}

func TestDurationFlag(t *testing.T) {
	var d Duration
	if err := d.Set("1y"); err != nil || d.String() != "1y" {
		t.Errorf("Duration 1y: %v %q", err, d.String())
	}
	for _, bad := range []string{"", "y", "-1d", "0h", "1q"} {
		if err := d.Set(bad); err == nil {
			t.Errorf("Duration %q: no error", bad)
		}
	}
}

func TestStoredValue(t *testing.T) {
	for _, c := range []struct {
		r    Row
		want float64
	}{
		{Row{Kind: Counter, Value: 123456789.123456789}, 123456789.123456789},
		{Row{Kind: Gauge, Value: 1234567890}, 1234567890},
		{Row{Kind: Gauge, Value: 0.123456789}, 0.123457},
		{Row{Kind: Gauge, Value: -98.7654321}, -98.7654},
		{Row{Kind: Gauge, Value: 1234567.89}, 1234570},
		{Row{Kind: Gauge, Value: 5.25}, 5.25},
		{Row{Kind: Marker, Value: 0, Text: "x"}, 1},
	} {
		if got := storedValue(&c.r); got != c.want {
			t.Errorf("storedValue(%+v) = %v, want %v", c.r, got, c.want)
		}
	}
	if got := storedValue(&Row{Kind: Gauge, Value: math.Inf(1)}); !math.IsInf(got, 1) {
		t.Errorf("+Inf stored as %v", got)
	}
}

func TestGrid(t *testing.T) {
	for _, c := range []struct {
		from, until int64
		points      int
	}{
		{0, 999, 10}, {1, 1000, 10}, {123, 456789, 7}, {-5000, 5000, 3},
		{1_700_000_000_000, 1_731_536_000_000, 1000}, {5, 5, 100}, {0, 1_000_000, 1},
	} {
		first, step := grid(c.from, c.until, c.points)
		n := int((c.until-first)/step) + 1
		if n > c.points || first > c.from || first+step <= c.from-step {
			t.Errorf("grid(%d, %d, %d) = first %d step %d: %d buckets", c.from, c.until, c.points, first, step, n)
		}
	}
}

// read runs the kernel over raw points as the store does.
func read(k kernel, rs *RawSeries, fn Fn, as As, from, until, first, step int64) []Point {
	nb := int((until-first)/step + 1)
	stats, prev := k.summarize(rs, from, until, first, step, nb)
	f, a := resolve(fn, as, rs.Kind)
	return k.points(rs.Kind, f, a, stats, first, step, prev)
}

func TestKernel(t *testing.T) {
	nan := math.NaN()
	counter := &RawSeries{Kind: Counter, TS: []int64{-10, 0, 10, 20, 30, 40}, Values: []float64{100, 105, 110, 3, 8, 8}}
	quiet := &RawSeries{Kind: Counter, TS: []int64{0, 100}, Values: []float64{1, 2}}
	gauge := &RawSeries{Kind: Gauge, TS: []int64{0, 10, 20}, Values: []float64{4, 6, 5}}
	for _, c := range []struct {
		name        string
		k           kernel
		rs          *RawSeries
		fn          Fn
		as          As
		from, until int64
		first, step int64
		want        []Point
	}{
		// From 0: the point at -10 is history; increments 5, 5, 3 (a reset
		// counts from zero, never negative), 5, 0.
		{"count", kernel{lookback: 100}, counter, "", AsCount, 0, 49, 0, 10,
			[]Point{{0, 5}, {10, 5}, {20, 3}, {30, 5}, {40, 0}}},
		{"rate per second", kernel{lookback: 100}, counter, "", AsRate, 0, 49, 0, 10,
			[]Point{{0, 500}, {10, 500}, {20, 300}, {30, 500}, {40, 0}}},
		{"total", kernel{lookback: 100}, counter, "", AsTotal, 0, 49, 0, 10,
			[]Point{{0, 105}, {10, 110}, {20, 3}, {30, 8}, {40, 8}}},
		{"fn=sum is count", kernel{lookback: 100}, counter, FnSum, "", 0, 49, 0, 20,
			[]Point{{0, 10}, {20, 8}, {40, 0}}},
		// The first point is a baseline. Empty buckets inside the lookback
		// counted nothing; beyond it there is no point.
		{"quiet counter", kernel{lookback: 150}, quiet, "", AsCount, 0, 399, 0, 50,
			[]Point{{0, 0}, {50, 0}, {100, 1}, {150, 0}, {200, 0}, {250, 0}, {300, nan}, {350, nan}}},
		// A point after a silence longer than the lookback (canopyd was
		// down) is a new baseline: the increase across the stop is unknown.
		{"after a stop", kernel{lookback: 60}, quiet, "", AsCount, 0, 199, 0, 50,
			[]Point{{0, 0}, {50, 0}, {100, 0}, {150, 0}}},
		// A gauge's sample stands for stale (here 15 ms): finer buckets
		// wholly inside it repeat it, later ones are null.
		{"gauge stale", kernel{lookback: 1000, stale: 15}, gauge, "", "", 0, 59, 0, 5,
			[]Point{{0, 4}, {5, 4}, {10, 6}, {15, 6}, {20, 5}, {25, 5}, {30, 5}, {35, nan}, {40, nan}, {45, nan}, {50, nan}, {55, nan}}},
		{"gauge max", kernel{lookback: 1000, stale: 15}, gauge, FnMax, "", 0, 59, 0, 20,
			[]Point{{0, 6}, {20, 5}, {40, nan}}},
	} {
		got := read(c.k, c.rs, c.fn, c.as, c.from, c.until, c.first, c.step)
		if mustJSON(got) != mustJSON(c.want) {
			t.Errorf("%s = %s, want %s", c.name, mustJSON(got), mustJSON(c.want))
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestGraphiteNames(t *testing.T) {
	for _, k := range []string{"br,ie,7", "br,webkit,14.0", "a", "x%2Cy,v1.2.3"} {
		if got := key.FromGraphite(key.ToGraphite(k)); got != k {
			t.Errorf("%q -> %q -> %q", k, key.ToGraphite(k), got)
		}
	}
	m, err := graphiteMatcher("br.{ie,ff}.1*")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"br,ie,10": true, "br,ff,1": true, "br,op,1": false, "br,ie,2": false} {
		if m.Match(k) != want {
			t.Errorf("br.{ie,ff}.1* on %q: %v", k, !want)
		}
	}
	if _, err := graphiteMatcher("sumSeries(a.b)"); err == nil {
		t.Errorf("functions accepted")
	}
}
