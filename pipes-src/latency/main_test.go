package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (what a
// batch writes: timed requests per URL; the percentiles come at the tick,
// see TestPercentiles); native and the committed .wasm must agree.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &latencyPipe{}, "../../pipes-wasm/latency.wasm", "main")
}

func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &latencyPipe{}, "../../pipes-wasm/latency.wasm")
}

// tickRun runs recs through p in batches, then one tick, and returns the
// merged result.
func tickRun(t *testing.T, p pipe.Pipe, recs []pipeabi.Record) *pipetest.Result {
	t.Helper()
	run := pipe.NewRunner(p)
	run.Init(pipetest.EncodeConfig(nil))
	m := run.Manifest()
	l, err := pipeabi.NewLayout(m.Fields)
	if err != nil {
		t.Fatal(err)
	}
	res := pipetest.NewResult(m)
	var ds []pipeabi.Delta
	for start := 0; start < len(recs); start += 2048 {
		b := l.AppendBatch(nil, recs[start:min(start+2048, len(recs))])
		if ds, err = pipeabi.DecodeDeltas(ds[:0], run.Process(b), m); err != nil {
			t.Fatal(err)
		}
		res.Merge(ds)
	}
	if ds, err = pipeabi.DecodeDeltas(ds[:0], run.Tick(1767571200e9), m); err != nil {
		t.Fatal(err)
	}
	res.Merge(ds)
	return res
}

// TestPercentiles draws request times from known distributions (log-normal
// around 80 ms, and a bimodal one: 90 % fast, 10 % slow) and checks every
// percentile and the max against the exact ones of the same samples: within
// 2 %.
func TestPercentiles(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name string
		draw func() float64
	}{
		{"lognormal", func() float64 { return 0.08 * math.Exp(0.9*r.NormFloat64()) }},
		{"bimodal", func() float64 {
			if r.IntN(10) == 0 {
				return 1 + r.Float64()*2
			}
			return 0.005 + r.Float64()*0.02
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var recs []pipeabi.Record
			var req, up []float64
			for range 100_000 {
				v := tc.draw()
				u := v * 0.9
				recs = append(recs, pipeabi.Record{Path: "/api", Method: "GET", Status: 200, RequestTime: v, UpstreamTimes: []float64{u}})
				req, up = append(req, v), append(up, u)
			}
			res := tickRun(t, &latencyPipe{}, recs)
			slices.Sort(req)
			slices.Sort(up)
			for _, m := range []struct {
				name string
				xs   []float64
			}{{"req", req}, {"up", up}, {"req_all", req}} {
				for _, q := range []struct {
					name string
					q    float64
				}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}, {"max", 1}} {
					exact := m.xs[max(int(math.Ceil(q.q*float64(len(m.xs))))-1, 0)]
					key := fmt.Sprintf("latp,%s,/api,%s", m.name, q.name)
					got, ok := res.Value(key)
					if rel := math.Abs(got-exact) / exact; !ok || rel > 0.02 {
						t.Errorf("%s = %v (present %v), exact %v: error %.2f %%, want ≤ 2 %%", key, got, ok, exact, rel*100)
					}
				}
			}
			want := fmt.Sprintf("%.3fs GET /api 200 up=%.3f", req[len(req)-1], req[len(req)-1]*0.9)
			if got, _ := res.Marker("latslow,01"); got != want {
				t.Errorf("slowest = %q, want %q", got, want)
			}
			if _, ok := res.Marker("latslow,20"); !ok {
				t.Errorf("no 20th slowest")
			}
		})
	}
}

// TestMSBuckets checks the millisecond cache against bucketOf: every whole
// ms of the cache, values parsed as nginx writes them, and values that are
// not whole ms (microseconds, sums of upstream times, out of range).
func TestMSBuckets(t *testing.T) {
	c := new(msBuckets)
	check := func(v float64) {
		for range 2 { // computed, then cached
			if got, want := c.of(v), bucketOf(v); got != want {
				t.Fatalf("bucket of %v = %d, want %d", v, got, want)
			}
			if got, want := c.cached(v), bucketOf(v); got >= 0 && got != want {
				t.Fatalf("cached bucket of %v = %d, want %d", v, got, want)
			}
		}
	}
	for ms := range maxMS + 10 {
		check(float64(ms) / 1000)
		v, err := strconv.ParseFloat(fmt.Sprintf("%d.%03d", ms/1000, ms%1000), 64)
		if err != nil {
			t.Fatal(err)
		}
		check(v)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		check(r.Float64() * 100)
		check(float64(r.IntN(100000)) / 1e6)
		check(0.001*float64(r.IntN(1000)) + 0.001*float64(r.IntN(1000)))
	}
	for _, v := range []float64{-1, -0.0005, 0, 1e-7, math.Inf(1), 1e300} {
		check(v)
	}
}
