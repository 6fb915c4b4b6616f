package api

import (
	"strconv"
	"strings"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// UnitsFunc returns the unit declared for a tree key (escaped comma key),
// on the node or nearest above it, "" when none is: pipes declare theirs
// when they load, agent modules push their Ganglia units.
type UnitsFunc func(key string) string

// TreeUnits reads units from t (tree.Tree.UnitOf).
func TreeUnits(t *tree.Tree) UnitsFunc {
	return func(k string) string {
		names, err := key.Split(k)
		if err != nil {
			return ""
		}
		return t.UnitOf(names)
	}
}

// unitSpellings maps the ways pipes, gmond and collector modules write a
// unit to one spelling per unit, so readers format them alike. Anything
// else is passed on as declared ("connections", "CPUs").
var unitSpellings = map[string]string{
	"b": "B", "byte": "B", "bytes": "B",
	"kb": "KiB", "kib": "KiB", "mb": "MiB", "mib": "MiB", "gb": "GiB", "gib": "GiB",
	"s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
	"ms": "ms", "msec": "ms", "millisecond": "ms", "milliseconds": "ms",
	"us": "µs", "µs": "µs", "microseconds": "µs",
	"%": "%", "percent": "%", "pct": "%",
	"req": "req", "reqs": "req", "request": "req", "requests": "req",
}

// CanonicalUnit spells a declared unit the one way the API answers it:
// "bytes" is "B", "KB" (Ganglia's, from kB in /proc) is "KiB", "sec" is
// "s", and "X/sec" is "X/s".
func CanonicalUnit(u string) string {
	u = strings.TrimSpace(u)
	if u == "" {
		return ""
	}
	base, per, perSec := u, "", false
	if i := strings.IndexByte(u, '/'); i > 0 {
		base, per = u[:i], strings.ToLower(strings.TrimSpace(u[i+1:]))
		perSec = per == "s" || per == "sec" || per == "second"
	}
	if c, ok := unitSpellings[strings.ToLower(strings.TrimSpace(base))]; ok {
		base = c
	}
	switch {
	case perSec:
		return base + "/s"
	case per != "":
		return base + "/" + per
	}
	return base
}

// seriesUnit is the unit of a series' values: the key's declared unit,
// per second when a counter is read as a rate. A percentile series
// (PercentileName) is in the unit of the node whose buckets it reads.
func seriesUnit(units UnitsFunc, s *trend.Series, percentile bool) string {
	if units == nil {
		return ""
	}
	k := s.Key
	if percentile {
		if i := strings.LastIndex(k, " p"); i > 0 {
			if _, err := strconv.ParseFloat(k[i+2:], 64); err == nil {
				k = k[:i]
			}
		}
	}
	u := CanonicalUnit(units(k))
	if u != "" && s.Kind == trend.Counter.String() && s.As == trend.AsRate && !strings.Contains(u, "/") {
		u += "/s"
	}
	return u
}
