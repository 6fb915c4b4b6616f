package trend

import (
	"fmt"
	"math"
	"testing"
)

func TestTop(t *testing.T) {
	nan := math.NaN()
	s := func(k string, vs ...float64) Series {
		pts := make([]Point, len(vs))
		for i, v := range vs {
			pts[i] = Point{int64(i) * 1000, v}
		}
		return Series{Key: k, Kind: "counter", As: AsRate, Points: pts}
	}
	in := []Series{s("a", 1, 1, 1), s("b", 5, nan, 5), s("c", 3, 3, 3), s("d", nan, nan, 2), s("e", 0, nan, 0)}
	for _, c := range []struct {
		n    int
		want string // keys and points
	}{
		{0, "a[1 1 1] b[5 NaN 5] c[3 3 3] d[NaN NaN 2] e[0 NaN 0]"},
		{5, "a[1 1 1] b[5 NaN 5] c[3 3 3] d[NaN NaN 2] e[0 NaN 0]"},
		{2, "b[5 NaN 5] c[3 3 3] other[1 1 3]"},
		{1, "b[5 NaN 5] other[4 4 6]"},
		// a totals 3, d 2, e 0.
		{3, "b[5 NaN 5] c[3 3 3] a[1 1 1] other[0 NaN 2]"},
	} {
		got := ""
		for _, se := range Top(in, c.n) {
			if got != "" {
				got += " "
			}
			got += se.Key + fmt.Sprint(se.Values())
		}
		if got != c.want {
			t.Errorf("Top(%d) = %s, want %s", c.n, got, c.want)
		}
	}
	if o := Top(in, 2)[2]; o.Kind != "counter" || o.As != AsRate {
		t.Errorf("other of counters read as rates: %s %s", o.Kind, o.As)
	}
	mixed := append([]Series{{Key: "g", Kind: "gauge", Fn: FnAvg, Points: []Point{{0, 0.1}, {1000, 0.1}, {2000, 0.1}}}}, in...)
	if o := Top(mixed, 1)[1]; o.Kind != "mixed" {
		t.Errorf("other of gauges and counters: kind %s, want mixed", o.Kind)
	}
}
