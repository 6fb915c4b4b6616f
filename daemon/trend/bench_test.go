package trend

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend/trendtest"
)

// Benchmarks for `go tool -modfile=tools/go.mod task bench:trend`. Each runs once (-benchtime 1x)
// and reports its figure with b.ReportMetric.

func openBenchStore(b *testing.B, dir string) (*Store, *Embedded) {
	b.Helper()
	be, err := OpenEmbedded(dir, 366*24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return New(Options{Backend: be, Retention: 366 * 24 * time.Hour, QueueBatches: 64}), be
}

// realisticRows calls emit with batches of series×n rows at 10 s steps
// ending now, time-major as ticks write them. Three kinds of series, chosen
// by kinds (bit 0 counters, bit 1 gauges, bit 2 averages): counters
// (requests per status or browser: running totals growing by a random
// count each tick, with a daily rhythm), integer gauges (connections,
// queue lengths), averages of millisecond times (request_time means:
// ratios with many digits).
func realisticRows(series, n int, seed uint64, kinds int, emit func([]Row)) int {
	r := rand.New(rand.NewPCG(seed, 1))
	end := time.Now().Truncate(10 * time.Second).UnixMilli()
	start := end - int64(n-1)*10_000
	keys := make([]string, series)
	for s := range keys {
		keys[s] = fmt.Sprintf("site%d,status,%d,%d", s%7, 200+s%5, s)
	}
	totals := make([]float64, series)
	level := make([]float64, series)
	for s := range level {
		level[s] = float64(10 + r.IntN(200))
	}
	rows := make([]Row, 0, 10_000)
	count := 0
	for i := 0; i < n; i++ {
		ts := start + int64(i)*10_000
		day := 1 + 0.5*math.Sin(2*math.Pi*float64(ts%86_400_000)/86_400_000)
		for s := 0; s < series; s++ {
			if kinds&(1<<(s%3)) == 0 {
				continue
			}
			switch s % 3 {
			case 0:
				totals[s] += float64(r.IntN(int(20*day) + 1))
				rows = append(rows, Row{Key: keys[s], Kind: Counter, TS: ts, Value: totals[s]})
			case 1:
				level[s] = math.Max(0, level[s]+float64(r.IntN(5)-2))
				rows = append(rows, Row{Key: keys[s], Kind: Gauge, TS: ts, Value: level[s]})
			default:
				k := 1 + r.IntN(40)
				sum := 0
				for j := 0; j < k; j++ {
					sum += 20 + r.IntN(200)
				}
				rows = append(rows, Row{Key: keys[s], Kind: Gauge, TS: ts, Value: float64(sum) / float64(k) / 1000})
			}
			if len(rows) == cap(rows) {
				emit(rows)
				count += len(rows)
				rows = make([]Row, 0, 10_000)
			}
		}
	}
	if len(rows) > 0 {
		emit(rows)
		count += len(rows)
	}
	return count
}

func flushStore(b *testing.B, s *Store) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

func writeAll(b *testing.B, s *Store, rows []Row) {
	b.Helper()
	const batch = 10_000
	for i := 0; i < len(rows); i += batch {
		if err := s.WriteRows(rows[i:min(i+batch, len(rows))]); err != nil {
			b.Fatal(err)
		}
	}
	flushStore(b, s)
}

// BenchmarkIngest: samples per second through the Store (queue, writer,
// embedded lib/storage) until they are searchable.
func BenchmarkIngest(b *testing.B) {
	var batches [][]Row
	n := realisticRows(1000, 2000, 1, 7, func(r []Row) { batches = append(batches, r) }) // 2 M samples
	for i := 0; i < b.N; i++ {
		s, _ := openBenchStore(b, b.TempDir())
		start, c0 := time.Now(), cpuTime()
		for _, r := range batches {
			if err := s.WriteRows(r); err != nil {
				b.Fatal(err)
			}
		}
		flushStore(b, s)
		el, cpu := time.Since(start), cpuTime()-c0
		b.ReportMetric(float64(n)/el.Seconds(), "samples/s")
		// On a shared machine wall time depends on the neighbours; CPU
		// time spent by this process does not.
		b.ReportMetric(float64(n)/cpu.Seconds(), "samples/cpu-s")
		s.Close()
	}
}

// BenchmarkDiskPerSample: bytes on disk per sample after a forced merge,
// for three days of 600 realistic series at 10 s (15.5 M samples), and per
// kind of series.
func BenchmarkDiskPerSample(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.ReportMetric(diskPerSample(b, 7), "B/sample")
		for kind, name := range []string{"counters", "gauges", "averages"} {
			b.ReportMetric(diskPerSample(b, 1<<kind), "B/sample-"+name)
		}
	}
}

func diskPerSample(b *testing.B, kinds int) float64 {
	b.Helper()
	dir := b.TempDir()
	s, be := openBenchStore(b, dir)
	n := realisticRows(600, 3*8640, 2, kinds, func(r []Row) {
		if err := s.WriteRows(r); err != nil {
			b.Fatal(err)
		}
	})
	flushStore(b, s)
	if err := be.ForceMerge(); err != nil {
		b.Fatal(err)
	}
	s.Close()
	var size int64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		// Caches are rebuilt on start; they are not the data.
		if err == nil && !d.IsDir() && !strings.Contains(p, string(filepath.Separator)+"cache"+string(filepath.Separator)) {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return float64(size) / float64(n)
}

// BenchmarkQueryYear: one series stored every 10 s for a year (3.15 M raw
// points) read back as 1,000 points.
func BenchmarkQueryYear(b *testing.B) {
	s, be := openBenchStore(b, b.TempDir())
	defer s.Close()
	const n = 365 * 8640
	end := time.Now().Truncate(10 * time.Second)
	start := end.Add(-(n - 1) * 10 * time.Second)
	rows := make([]Row, 0, n*2+1)
	rows = append(rows, Row{Key: "year,requests", Kind: Counter, TS: start.UnixMilli() - 1})
	total := 0.0
	r := rand.New(rand.NewPCG(3, 1))
	for i := 0; i < n; i++ {
		ts := start.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
		total += float64(r.IntN(30))
		rows = append(rows, Row{Key: "year,requests", Kind: Counter, TS: ts, Value: total})
		rows = append(rows, Row{Key: "year,load", Kind: Gauge, TS: ts, Value: float64(r.IntN(100))})
	}
	writeAll(b, s, rows)
	if err := be.ForceMerge(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		key string
		fn  Fn
	}{{"year,load", FnAvg}, {"year,requests", FnRate}} {
		b.Run(string(c.fn), func(b *testing.B) {
			var worst, sum time.Duration
			const runs = 5
			c0 := cpuTime()
			for i := 0; i < runs; i++ {
				t0 := time.Now()
				res, err := s.Query(context.Background(), c.key, start, end, 1000, c.fn)
				el := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Series) != 1 || len(res.Series[0].Points) < 900 {
					b.Fatalf("got %d series, want one with ~1000 points", len(res.Series))
				}
				if c.fn == FnRate && sumPoints(res.Series[0]) != total {
					b.Fatalf("rate sums to %v, want %v", sumPoints(res.Series[0]), total)
				}
				sum += el
				worst = max(worst, el)
			}
			b.ReportMetric(float64((cpuTime()-c0).Milliseconds())/runs, "ms-cpu/query")
			b.ReportMetric(float64(sum.Milliseconds())/runs, "ms/query")
			b.ReportMetric(float64(worst.Milliseconds()), "ms/worst")
			b.ReportMetric(n, "raw-points")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTick10k: a tree of 10,000 numbers that all change every tick;
// the CPU the process spends per tick (collecting, queueing, storing,
// including the library's background work) as a share of one core at the
// default 10 s interval. The merges that change the tree are not counted.
func BenchmarkTick10k(b *testing.B) {
	be, err := OpenEmbedded(b.TempDir(), 366*24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	clock := time.Now().Add(-time.Hour)
	s := New(Options{Backend: be, Now: func() time.Time { return clock }})
	defer s.Close()
	tr := tree.New()
	const series = 10_000
	deltas := make([]tree.Delta, series)
	for i := range deltas {
		deltas[i] = tree.Delta{Path: []string{"site", fmt.Sprintf("url%d", i/100), fmt.Sprint(i % 100)}, Value: 1}
	}
	if err := tr.SetAction([]string{"site"}, tree.ActionAdd); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var version uint64
	const ticks = 30
	var spent time.Duration
	for i := 0; i < ticks; i++ {
		if _, err := tr.Apply(deltas); err != nil {
			b.Fatal(err)
		}
		clock = clock.Add(10 * time.Second)
		c0 := cpuTime()
		version = s.WriteChanges(tr, version, s.Now())
		tr.Tick()
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		spent += cpuTime() - c0
	}
	perTick := spent / ticks
	b.ReportMetric(float64(perTick.Microseconds())/1000, "ms-cpu/tick")
	b.ReportMetric(100*perTick.Seconds()/10, "%core@10s")
	// Each tick writes every number, plus the zero before each new counter.
	if got := s.Status()["points_written"]; got != uint64(series*(ticks+1)) {
		b.Errorf("points written = %v, want %d", got, series*(ticks+1))
	}
}

// BenchmarkQueryYearRemote: the same year-long series in a real
// VictoriaMetrics single node, read through /api/v1/export.
func BenchmarkQueryYearRemote(b *testing.B) {
	be, err := OpenRemote(trendtest.StartVictoriaMetrics(b), "")
	if err != nil {
		b.Fatal(err)
	}
	s := New(Options{Backend: be, Retention: 366 * 24 * time.Hour, QueueBatches: 64})
	defer s.Close()
	const n = 365 * 8640
	end := time.Now().Truncate(10 * time.Second)
	start := end.Add(-(n - 1) * 10 * time.Second)
	rows := make([]Row, 0, n)
	r := rand.New(rand.NewPCG(3, 1))
	for i := 0; i < n; i++ {
		rows = append(rows, Row{Key: "year,load", Kind: Gauge, TS: start.Add(time.Duration(i) * 10 * time.Second).UnixMilli(), Value: float64(r.IntN(100))})
	}
	writeAll(b, s, rows)
	var worst, sum time.Duration
	const runs = 3
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		res, err := s.Query(context.Background(), "year,load", start, end, 1000, FnAvg)
		el := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Series) != 1 || len(res.Series[0].Points) < 900 {
			b.Fatalf("got %d series, want one with ~1000 points", len(res.Series))
		}
		sum += el
		worst = max(worst, el)
	}
	b.ReportMetric(float64(sum.Milliseconds())/runs, "ms/query")
	b.ReportMetric(float64(worst.Milliseconds()), "ms/worst")
}
