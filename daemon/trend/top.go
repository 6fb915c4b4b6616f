package trend

import (
	"math"
	"sort"
)

// OtherKey names the series that sums what Top leaves out.
const OtherKey = "other"

// Top keeps the n series with the largest totals over the window (the sum
// of their points, nulls skipped: for counters read as rates that ranks as
// their counts do, since every series shares the step), largest first,
// ties by key, and adds OtherKey: per point the sum of the rest, null
// where none of them has a value. A wildcard over hundreds of URLs then
// draws as a readable chart that still adds up to the whole. With n or
// fewer series, they are returned as they are.
func Top(series []Series, n int) []Series {
	if n <= 0 || len(series) <= n {
		return series
	}
	totals := make(map[string]float64, len(series))
	for i := range series {
		totals[series[i].Key] = total(series[i].Points)
	}
	sorted := append([]Series(nil), series...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ti, tj := totals[sorted[i].Key], totals[sorted[j].Key]
		if ti != tj {
			return ti > tj
		}
		return sorted[i].Key < sorted[j].Key
	})
	rest := sorted[n:]
	other := Series{Key: OtherKey, Kind: rest[0].Kind, Fn: rest[0].Fn, As: rest[0].As, Unit: rest[0].Unit, Points: make([]Point, len(rest[0].Points))}
	for t := range other.Points {
		v := math.NaN()
		for i := range rest {
			if t < len(rest[i].Points) && !math.IsNaN(rest[i].Points[t].V) {
				if math.IsNaN(v) {
					v = 0
				}
				v += rest[i].Points[t].V
			}
		}
		other.Points[t] = Point{rest[0].Points[t].T, v}
	}
	for i := range rest[1:] {
		// Kinds differ (a pattern over gauges and counters): the sum is
		// still shown, but claims neither.
		if rest[i+1].Kind != other.Kind || rest[i+1].Fn != other.Fn || rest[i+1].As != other.As {
			other.Kind, other.Fn, other.As = "mixed", "", ""
		}
		if rest[i+1].Unit != other.Unit {
			other.Unit = "" // a sum of unlike things has no unit
		}
	}
	return append(sorted[:n:n], other)
}

func total(pts []Point) float64 {
	var s float64
	for _, p := range pts {
		if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
			s += p.V
		}
	}
	return s
}
