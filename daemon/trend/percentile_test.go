package trend

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// histogram counts samples into cumulative buckets bounds (+Inf added).
func histogram(samples []float64, bounds ...float64) []bucket {
	b := make([]bucket, 0, len(bounds)+1)
	for _, u := range append(bounds, math.Inf(1)) {
		n := 0
		for _, s := range samples {
			if s <= u {
				n++
			}
		}
		b = append(b, bucket{u, float64(n)})
	}
	return b
}

// exponential returns n samples spread over Exp(1) by its quantile function,
// so the true p-quantile is -ln(1-p).
func exponential(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = -math.Log(1 - (float64(i)+0.5)/float64(n))
	}
	return out
}

func TestQuantile(t *testing.T) {
	uniform := make([]float64, 100) // 0.005 … 0.995
	for i := range uniform {
		uniform[i] = (float64(i) + 0.5) / 100
	}
	tenths := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}
	promDefault := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	nan := math.NaN()
	for _, c := range []struct {
		name    string
		q       float64
		buckets []bucket
		want    float64
		within  float64 // the bucket resolution around want
	}{
		{"uniform p50", 0.5, histogram(uniform, tenths...), 0.5, 1e-9},
		{"uniform p95", 0.95, histogram(uniform, tenths...), 0.95, 1e-9},
		{"uniform p99", 0.99, histogram(uniform, tenths...), 0.99, 1e-9},
		{"uniform p0", 0, histogram(uniform, tenths...), 0, 1e-9},
		{"one bucket interpolates", 0.5, []bucket{{0.1, 0}, {0.25, 100}, {math.Inf(1), 100}}, 0.175, 1e-9},
		{"first bucket starts at 0", 0.5, []bucket{{0.1, 10}, {math.Inf(1), 10}}, 0.05, 1e-9},
		{"rank in +Inf: highest finite bound", 0.99, []bucket{{1, 0}, {math.Inf(1), 10}}, 1, 0},
		{"exponential p50", 0.5, histogram(exponential(10000), promDefault...), math.Ln2, 0.5},
		{"exponential p95", 0.95, histogram(exponential(10000), promDefault...), -math.Log(0.05), 2.5},
		{"exponential p99", 0.99, histogram(exponential(10000), promDefault...), -math.Log(0.01), 2.5},
		{"exponential fine p95", 0.95, histogram(exponential(10000), 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5), -math.Log(0.05), 0.5},
		{"dip is evened out", 0.5, []bucket{{1, 10}, {2, 8}, {math.Inf(1), 10}}, 0.5, 1e-9},
		{"no samples", 0.5, []bucket{{1, 0}, {math.Inf(1), 0}}, nan, 0},
		{"no +Inf bucket", 0.5, []bucket{{1, 5}, {2, 10}}, nan, 0},
		{"only +Inf", 0.5, []bucket{{math.Inf(1), 10}}, nan, 0},
	} {
		got := quantile(c.q, c.buckets)
		if math.IsNaN(c.want) != math.IsNaN(got) || math.Abs(got-c.want) > c.within {
			t.Errorf("%s: quantile(%v) = %v, want %v ± %v", c.name, c.q, got, c.want, c.within)
		}
	}
}

func TestParsePercentiles(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []float64
		ok   bool
	}{
		{"95", []float64{95}, true},
		{"50,95,99", []float64{50, 95, 99}, true},
		{"99.9", []float64{99.9}, true},
		{"0,100", []float64{0, 100}, true},
		{"101", nil, false},
		{"-1", nil, false},
		{"p95", nil, false},
		{"", nil, false},
		{"50,", nil, false},
	} {
		got, err := ParsePercentiles(c.in)
		if (err == nil) != c.ok || len(got) != len(c.want) {
			t.Errorf("ParsePercentiles(%q) = %v, %v", c.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("ParsePercentiles(%q) = %v, want %v", c.in, got, c.want)
			}
		}
	}
}

// TestReadPercentiles reads p50/p95/p99 from bucket counters written as the
// tree writes them (running totals), per minute, against a golden file.
func TestReadPercentiles(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	be, err := OpenEmbedded(t.TempDir(), 366*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Backend: be, Retention: 366 * 24 * time.Hour, Now: func() time.Time { return base.Add(time.Hour) }})
	t.Cleanup(func() { s.Close() })
	// Bounds written in text order (0.05 < 0.1 < 0.5 < 1 < +Inf numerically),
	// to check they are sorted as numbers.
	bounds := []string{"+Inf", "0.05", "0.1", "0.5", "1"}
	// Per minute, the samples of each (seconds): minute 2 has none.
	minutes := [][]float64{
		{0.01, 0.02, 0.03, 0.04, 0.07, 0.08, 0.2, 0.3, 0.4, 0.9},
		{0.06, 0.07, 0.08, 0.09, 0.6, 0.7, 0.8, 0.9, 2, 3},
		{},
		{0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 5},
	}
	var rows []Row
	totals := map[string]float64{}
	for _, k := range []string{"reqtime", "timers,db"} {
		for _, b := range bounds {
			rows = append(rows, Row{Key: k + ",le," + b, Kind: Counter, TS: base.UnixMilli() - 1})
		}
	}
	for m, samples := range minutes {
		ts := base.Add(time.Duration(m)*time.Minute + 30*time.Second).UnixMilli()
		for _, k := range []string{"reqtime", "timers,db"} {
			for _, b := range bounds {
				u, _ := strconv.ParseFloat(b, 64)
				for _, v := range samples {
					if k == "timers,db" {
						v *= 10 // another distribution under the same pattern
					}
					if v <= u {
						totals[k+b]++
					}
				}
				rows = append(rows, Row{Key: k + ",le," + b, Kind: Counter, TS: ts, Value: totals[k+b]})
			}
		}
	}
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var series []Series
	for _, k := range []string{"reqtime", "timers,*"} {
		res, err := s.ReadPercentiles(context.Background(), k, ReadOptions{
			From: base, Until: base.Add(4*time.Minute - time.Millisecond), Step: time.Minute,
		}, []float64{50, 95, 99})
		if err != nil {
			t.Fatal(err)
		}
		series = append(series, res.Series...)
	}
	got, err := json.MarshalIndent(series, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "percentiles.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("missing golden file (run go test ./daemon/trend -run TestReadPercentiles -update): %v", err)
	}
	if string(append(got, '\n')) != string(want) {
		t.Errorf("percentiles:\n%s\nwant (%s):\n%s", got, golden, want)
	}
}
