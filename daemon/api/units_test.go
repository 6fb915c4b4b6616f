package api

import (
	"testing"

	"github.com/canopy-dev/canopy/daemon/trend"
)

func TestCanonicalUnit(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{" ", ""},
		{"bytes", "B"},
		{"B", "B"},
		{"KB", "KiB"},
		{"bytes/sec", "B/s"},
		{"packets/sec", "packets/s"},
		{"sec", "s"},
		{"ms", "ms"},
		{"percent", "%"},
		{"requests", "req"},
		{"connections", "connections"},
		{"req/min", "req/min"},
	} {
		if got := CanonicalUnit(c.in); got != c.want {
			t.Errorf("CanonicalUnit(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSeriesUnit(t *testing.T) {
	units := func(k string) string {
		return map[string]string{"bytes,total": "B", "rt": "s", "net,rx": "bytes/sec"}[k]
	}
	counter, gauge := trend.Counter.String(), trend.Gauge.String()
	for _, c := range []struct {
		s          trend.Series
		percentile bool
		want       string
	}{
		{trend.Series{Key: "bytes,total", Kind: counter, As: trend.AsRate}, false, "B/s"},
		{trend.Series{Key: "bytes,total", Kind: counter, As: trend.AsCount}, false, "B"},
		{trend.Series{Key: "rt p99.9", Kind: gauge}, true, "s"},
		{trend.Series{Key: "rt p99.9", Kind: gauge}, false, ""},
		{trend.Series{Key: "net,rx", Kind: counter, As: trend.AsRate}, false, "B/s"},
		{trend.Series{Key: "other", Kind: counter, As: trend.AsRate}, false, ""},
	} {
		if got := seriesUnit(units, &c.s, c.percentile); got != c.want {
			t.Errorf("seriesUnit(%+v, %v) = %q, want %q", c.s, c.percentile, got, c.want)
		}
	}
}
