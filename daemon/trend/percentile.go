package trend

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/canopy-dev/canopy/daemon/key"
)

// Percentiles from cumulative `le` buckets (reqtime,le,0.1 … reqtime,le,+Inf,
// the StatsD timers' timers,NAME,le,BOUND): the buckets are counters, so
// each interval's counts are themselves a cumulative histogram of the
// samples seen in that interval, and a percentile of any interval follows
// from them the way Prometheus' histogram_quantile computes it.

// ParsePercentiles reads a percentile query parameter: "95" or "50,95,99",
// each in [0, 100].
func ParsePercentiles(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || p < 0 || p > 100 || math.IsNaN(p) {
			return nil, badQuery{fmt.Errorf("percentile=%q: want numbers from 0 to 100, comma-separated", s)}
		}
		out = append(out, p)
	}
	return out, nil
}

// bucket is one `le` bound and its cumulative count.
type bucket struct {
	upper, count float64
}

// quantile is histogram_quantile(q, buckets) for one interval: buckets
// sorted by upper bound, the last +Inf. The rank's bucket is found and the
// value interpolated linearly inside it (the first bucket starts at 0 when
// its bound is positive); a rank in +Inf answers the highest finite bound,
// since nothing is known above it. NaN: no samples, or no +Inf bucket.
func quantile(q float64, b []bucket) float64 {
	if len(b) < 2 || !math.IsInf(b[len(b)-1].upper, 1) {
		return math.NaN()
	}
	// Counts read at slightly different times can dip; a cumulative
	// histogram never does.
	for i := 1; i < len(b); i++ {
		b[i].count = max(b[i].count, b[i-1].count)
	}
	total := b[len(b)-1].count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(b)-1, func(i int) bool { return b[i].count >= rank })
	if i == len(b)-1 {
		return b[len(b)-2].upper
	}
	if i == 0 && b[0].upper <= 0 {
		return b[0].upper
	}
	lo, n := 0.0, b[i].count
	if i > 0 {
		lo, n, rank = b[i-1].upper, n-b[i-1].count, rank-b[i-1].count
	}
	if n <= 0 {
		return lo
	}
	return lo + (b[i].upper-lo)*rank/n
}

// PercentileName is the series key of percentile p of k: "reqtime p95".
func PercentileName(k string, p float64) string {
	return k + " p" + strconv.FormatFloat(p, 'f', -1, 64)
}

// ReadPercentiles reads the `le` buckets under k (k,le,*; k may be a
// pattern such as timers,*) and returns, per matched key and percentile,
// a gauge series named PercentileName(k, p), null in the intervals without
// samples. opt.Fn and opt.As do not apply (buckets are read as counts).
func (s *Store) ReadPercentiles(ctx context.Context, k string, opt ReadOptions, ps []float64) (*Result, error) {
	if k == "" {
		return nil, badQuery{fmt.Errorf("empty key")}
	}
	opt.Fn, opt.As, opt.KeepEmpty = FnAuto, AsCount, false
	res, err := s.Read(ctx, k+",le,*", opt)
	if err != nil {
		return nil, err
	}
	buckets := res.Series
	res.Series = percentileSeries(buckets, ps)
	return res, nil
}

// percentileSeries folds bucket series (key PARENT,le,BOUND, same grid)
// into percentile series, parents sorted, percentiles in the order asked.
func percentileSeries(series []Series, ps []float64) []Series {
	type bs struct {
		upper float64
		s     *Series
	}
	groups := map[string][]bs{}
	for i := range series {
		le := parentKey(series[i].Key)
		i0 := strings.LastIndexByte(series[i].Key, ',')
		bound, err := key.Unescape(series[i].Key[i0+1:])
		if err != nil || !strings.HasSuffix(le, ",le") {
			continue
		}
		// ParseFloat reads "+Inf" too.
		u, err := strconv.ParseFloat(bound, 64)
		if err != nil || math.IsNaN(u) {
			continue
		}
		g := strings.TrimSuffix(le, ",le")
		groups[g] = append(groups[g], bs{u, &series[i]})
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	out := []Series{}
	for _, g := range names {
		bb := groups[g]
		sort.Slice(bb, func(i, j int) bool { return bb[i].upper < bb[j].upper })
		n := len(bb[0].s.Points)
		vals := make([][]float64, len(ps))
		for j := range vals {
			vals[j] = make([]float64, n)
		}
		scratch := make([]bucket, 0, len(bb))
		for t := 0; t < n; t++ {
			scratch = scratch[:0]
			for _, b := range bb {
				// A bucket without a reading this interval is left out
				// rather than read as zero, which would drag the rank down.
				if t < len(b.s.Points) && !math.IsNaN(b.s.Points[t].V) {
					scratch = append(scratch, bucket{b.upper, b.s.Points[t].V})
				}
			}
			for j, p := range ps {
				vals[j][t] = quantile(p/100, scratch)
			}
		}
		for j, p := range ps {
			pts := make([]Point, n)
			for t := range pts {
				pts[t] = Point{bb[0].s.Points[t].T, vals[j][t]}
			}
			out = append(out, Series{Key: PercentileName(g, p), Kind: Gauge.String(), Points: pts})
		}
	}
	return out
}
