package trend

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Long ranges on a remote VictoriaMetrics are downsampled by the server:
// exporting a year of one series (3.15 M points) as JSON takes tens of
// seconds, while its rollup functions answer 1,000 buckets in milliseconds.
// Buckets are the same as the embedded store's; each bucket's window is
// [start, start+step) (query_range evaluates (t-step, t] at t =
// start+step-1 ms, with nocache=1 so the server does not shift them).
// Counter increments are taken bucket to bucket from last_over_time, so a
// reset inside one bucket loses that bucket's increments before it; the
// most recent buckets, which the server may not show yet
// (-search.latencyOffset), come from raw points as usual.

// rollupMinSpan is the range from which the server downsamples: a day at
// 10 s is 8,640 points per series, still quick as raw JSON.
const rollupMinSpan = 24 * time.Hour

// rollupMaxBuckets is query_range's default -search.maxPointsPerTimeseries.
const rollupMaxBuckets = 30_000

// rollupReader is implemented by backends that can downsample themselves.
type rollupReader interface {
	rollup(ctx context.Context, m *Matcher, fn Fn, first, step, from, until, lookback, now int64) ([]Series, bool, error)
}

type promResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func (r *Remote) prom(ctx context.Context, path string, q url.Values) (*promResponse, error) {
	q.Set("nocache", "1")
	resp, err := r.get(ctx, path, q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		return nil, fmt.Errorf("cannot decode VictoriaMetrics answer: %w", err)
	}
	if pr.Status != "success" {
		return nil, fmt.Errorf("VictoriaMetrics query failed: %s", pr.Error)
	}
	return &pr, nil
}

func promValue(v any) (float64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsNaN(f)
}

func promMS(v any) (int64, bool) {
	f, ok := v.(float64)
	return int64(math.Round(f * 1000)), ok
}

// instant evaluates query at ms and returns each key's value.
func (r *Remote) instant(ctx context.Context, query string, ms int64) (map[string]float64, error) {
	pr, err := r.prom(ctx, "/api/v1/query", url.Values{"query": {query}, "time": {vmTime(ms)}})
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, res := range pr.Data.Result {
		if v, ok := promValue(res.Value[1]); ok {
			out[res.Metric[labelKey]] = v
		}
	}
	return out, nil
}

type bucketed struct {
	kind  Kind
	last  []float64 // NaN where the bucket is empty
	agg   []float64
	first []float64 // first value in the bucket: rate's baseline
}

// rangeQuery evaluates fn over nb buckets of step from first into dst[key].
func (r *Remote) rangeQuery(ctx context.Context, fnName, sel string, first, step int64, nb int, dst map[string]*bucketed, column func(*bucketed) []float64) error {
	q := url.Values{
		"query": {fmt.Sprintf("%s(%s[%dms])", fnName, sel, step)},
		"start": {vmTime(first + step - 1)},
		"end":   {vmTime(first + int64(nb)*step - 1)},
		"step":  {vmTime(step)},
	}
	pr, err := r.prom(ctx, "/api/v1/query_range", q)
	if err != nil {
		return err
	}
	for _, res := range pr.Data.Result {
		key := res.Metric[labelKey]
		b := dst[key]
		if b == nil {
			b = &bucketed{kind: parseKind(res.Metric[labelKind]), last: nanSlice(nb), agg: nanSlice(nb), first: nanSlice(nb)}
			dst[key] = b
		}
		col := column(b)
		for _, p := range res.Values {
			t, ok := promMS(p[0])
			v, ok2 := promValue(p[1])
			if !ok || !ok2 {
				continue
			}
			i := (t + 1 - step - first) / step
			if i >= 0 && i < int64(nb) {
				col[i] = v
			}
		}
	}
	return nil
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

func (r *Remote) rollup(ctx context.Context, m *Matcher, fn Fn, first, step, from, until, lookback, now int64) ([]Series, bool, error) {
	sel := selector(metricNumbers, m)
	nb := int((until-first)/step + 1)
	if nb > rollupMaxBuckets {
		return nil, false, nil
	}
	// Counting the raw points first would cost the server a full scan;
	// the span decides instead.
	if until-from < r.rollupMinSpan.Milliseconds() {
		return nil, false, nil
	}
	// The first bucket (it may start before from) and the buckets of the
	// last two minutes come from raw points; the server does the rest.
	nR := int(floorDiv(now-2*time.Minute.Milliseconds()-first, step))
	nR = min(nR, nb)
	if nR < 2 {
		return nil, false, nil
	}
	mid := first + step
	byKey := map[string]*bucketed{}
	if err := r.rangeQuery(ctx, "last_over_time", sel, mid, step, nR-1, byKey, func(b *bucketed) []float64 { return b.last }); err != nil {
		return nil, false, err
	}
	aggFn := map[Fn]string{FnAvg: "avg_over_time", FnAuto: "avg_over_time", FnMax: "max_over_time", FnMin: "min_over_time",
		FnSum: "sum_over_time"}[fn]
	if aggFn != "" {
		if err := r.rangeQuery(ctx, aggFn, sel, mid, step, nR-1, byKey, func(b *bucketed) []float64 { return b.agg }); err != nil {
			return nil, false, err
		}
	}
	// Rate (asked for, or what auto and sum mean for a counter) takes a
	// bucket's first value as the baseline of a series with nothing before
	// it; it has its own column so it never reads another fn's aggregate.
	if fn == FnRate || fn == FnAuto || fn == FnSum {
		if err := r.rangeQuery(ctx, "first_over_time", sel, mid, step, nR-1, byKey, func(b *bucketed) []float64 { return b.first }); err != nil {
			return nil, false, err
		}
	}
	prev, err := r.instant(ctx, fmt.Sprintf("last_over_time(%s[%dms])", sel, lookback), mid-1)
	if err != nil {
		return nil, false, err
	}
	rawPart := func(lo, hi int64) (map[string]*RawSeries, error) {
		out := map[string]*RawSeries{}
		if lo > hi {
			return out, nil
		}
		raw, err := r.Read(ctx, m, lo-lookback, hi)
		if err != nil {
			return nil, err
		}
		for i := range raw {
			out[raw[i].Key] = &raw[i]
		}
		return out, nil
	}
	head, err := rawPart(from, mid-1)
	if err != nil {
		return nil, false, err
	}
	tailFrom := first + int64(nR)*step
	tail, err := rawPart(tailFrom, until)
	if err != nil {
		return nil, false, err
	}
	keys := map[string]bool{}
	for _, part := range []map[string]*RawSeries{head, tail} {
		for k := range part {
			keys[k] = true
		}
	}
	for k := range byKey {
		keys[k] = true
	}
	var out []Series
	for _, key := range sortedKeys(keys) {
		var pts []Point
		kind := Gauge
		if rs := head[key]; rs != nil {
			kind = rs.Kind
			pts = downsample(rs, fn, from, min(until, mid-1), first, step, lookback, now)
		}
		if b := byKey[key]; b != nil {
			kind = b.kind
			pv, has := prev[key]
			pts = append(pts, b.points(effectiveFn(fn, kind), mid, step, lookback, pv, has)...)
		}
		if rs := tail[key]; rs != nil {
			kind = rs.Kind
			pts = append(pts, downsample(rs, fn, tailFrom, until, tailFrom, step, lookback, now)...)
		}
		if len(pts) > 0 {
			out = append(out, Series{Key: key, Kind: kind.String(), Fn: effectiveFn(fn, kind), Points: pts})
		}
	}
	return out, true, nil
}

// points turns server buckets into output points with the embedded
// store's rules: counters' increments (resets counted from zero), empty
// buckets within lookback repeat the last value or show no increase.
func (b *bucketed) points(fn Fn, first, step, lookback int64, prev float64, hasPrev bool) []Point {
	var out []Point
	prevEnd := first - 1 // time of prev, as far as buckets can tell
	for i := range b.last {
		bs := first + int64(i)*step
		last := b.last[i]
		if math.IsNaN(last) {
			if !hasPrev || bs-prevEnd > lookback {
				continue
			}
			out = appendGap(out, fn, bs, prev)
			continue
		}
		if hasPrev && bs-prevEnd > lookback {
			hasPrev = false // a stop: see downsample
		}
		var v float64
		switch fn {
		case FnRate:
			switch {
			case !hasPrev:
				v = last - b.first[i] // the first point is a baseline
			case b.kind == Counter && last < prev:
				v = last
			default:
				v = last - prev
			}
		case FnLast:
			v = last
		default:
			v = b.agg[i]
		}
		if !math.IsNaN(v) {
			out = append(out, Point{bs, v})
		}
		prev, hasPrev, prevEnd = last, true, bs+step-1
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
