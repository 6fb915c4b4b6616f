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
// rollup hands each series' bucket summaries to add (false: the backend
// cannot do this range; read raw points instead).
type rollupReader interface {
	rollup(ctx context.Context, m *Matcher, fn Fn, k kernel, first, step int64, nb int, from, until, now int64,
		add func(key string, kind Kind, stats []bucketStats, prev sample)) (bool, error)
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

type bucketed struct {
	kind  Kind
	last  []float64 // NaN where the bucket is empty
	agg   []float64
	first []float64 // first value in the bucket: a counter's in-bucket increase
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

func (r *Remote) rollup(ctx context.Context, m *Matcher, fn Fn, k kernel, first, step int64, nb int, from, until, now int64,
	add func(key string, kind Kind, stats []bucketStats, prev sample)) (bool, error) {
	sel := selector(metricNumbers, m)
	if nb > rollupMaxBuckets {
		return false, nil
	}
	// Counting the raw points first would cost the server a full scan;
	// the span decides instead.
	if until-from < r.rollupMinSpan.Milliseconds() {
		return false, nil
	}
	// The first bucket (it may start before from) and the buckets of the
	// last two minutes come from raw points; the server does the rest.
	nR := int(floorDiv(now-2*time.Minute.Milliseconds()-first, step))
	nR = min(nR, nb)
	if nR < 2 {
		return false, nil
	}
	mid := first + step
	byKey := map[string]*bucketed{}
	cols := []struct {
		fn  string
		col func(*bucketed) []float64
	}{
		{"last_over_time", func(b *bucketed) []float64 { return b.last }},
		{"first_over_time", func(b *bucketed) []float64 { return b.first }},
	}
	if agg := map[Fn]string{FnAvg: "avg_over_time", FnAuto: "avg_over_time", FnMax: "max_over_time", FnMin: "min_over_time",
		FnSum: "sum_over_time"}[fn]; agg != "" {
		cols = append(cols, struct {
			fn  string
			col func(*bucketed) []float64
		}{agg, func(b *bucketed) []float64 { return b.agg }})
	}
	for _, c := range cols {
		if err := r.rangeQuery(ctx, c.fn, sel, mid, step, nR-1, byKey, c.col); err != nil {
			return false, err
		}
	}
	// Raw points for the head (with the history before from) and the tail.
	head, err := r.Read(ctx, m, from-k.lookback, mid-1)
	if err != nil {
		return false, err
	}
	tailFrom := first + int64(nR)*step
	var tail []RawSeries
	if tailFrom <= until {
		if tail, err = r.Read(ctx, m, tailFrom, until); err != nil {
			return false, err
		}
	}
	type parts struct {
		kind       Kind
		head, tail *RawSeries
		mid        *bucketed
	}
	all := map[string]*parts{}
	get := func(key string) *parts {
		p := all[key]
		if p == nil {
			p = &parts{}
			all[key] = p
		}
		return p
	}
	for i := range head {
		p := get(head[i].Key)
		p.head, p.kind = &head[i], head[i].Kind
	}
	for key, b := range byKey {
		p := get(key)
		p.mid, p.kind = b, b.kind
	}
	for i := range tail {
		p := get(tail[i].Key)
		p.tail, p.kind = &tail[i], tail[i].Kind
	}
	keys := make(map[string]bool, len(all))
	for key := range all {
		keys[key] = true
	}
	for _, key := range sortedKeys(keys) {
		p := all[key]
		stats := make([]bucketStats, nb)
		var prev sample
		if p.head != nil {
			var hs []bucketStats
			hs, prev = k.summarize(p.head, from, min(until, mid-1), first, step, 1)
			stats[0] = hs[0]
		}
		if b := p.mid; b != nil {
			for i := range b.last {
				if math.IsNaN(b.last[i]) {
					continue
				}
				bs := mid + int64(i)*step
				st := &stats[1+i]
				st.n, st.last, st.first = 1, b.last[i], b.first[i]
				if math.IsNaN(st.first) {
					st.first = st.last
				}
				st.firstTS, st.lastTS = bs, bs+step-1
				st.inc = increase(st.first, st.last) // a reset inside loses what came before it
				a := b.agg[i]
				if math.IsNaN(a) {
					a = st.last
				}
				st.sum, st.min, st.max = a, a, a
			}
		}
		if p.tail != nil {
			ts, _ := k.summarize(p.tail, tailFrom, until, tailFrom, step, nb-nR)
			copy(stats[nR:], ts)
		}
		add(key, p.kind, stats, prev)
	}
	return true, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
