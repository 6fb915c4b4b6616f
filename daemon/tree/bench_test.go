package tree

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
)

// bigTree builds 1,000 hosts × 1,000 metrics (1,001,001 nodes), as in the
// issue's memory target.
func bigTree(tb testing.TB) *Tree {
	tr := New()
	deltas := make([]Delta, 0, 1000)
	for h := 0; h < 1000; h++ {
		host := "host" + strconv.Itoa(h)
		deltas = deltas[:0]
		for m := 0; m < 1000; m++ {
			deltas = append(deltas, Delta{Path: []string{"cpu", host, "metric" + strconv.Itoa(m)}, Value: float64(m)})
		}
		if _, err := tr.Apply(deltas); err != nil {
			tb.Fatal(err)
		}
	}
	return tr
}

var sharedBig = sync.OnceValue(func() *Tree { return bigTree(&testing.B{}) })

// BenchmarkApplyExisting merges batches of deltas into existing paths on one
// core: the steady state of log ingest.
func BenchmarkApplyExisting(b *testing.B) {
	tr := New()
	const batch = 1000
	deltas := make([]Delta, batch)
	for i := range deltas {
		deltas[i] = Delta{Path: []string{"br", "b" + strconv.Itoa(i%50), strconv.Itoa(i % 20)}, Value: 1}
	}
	if _, err := tr.Apply(deltas); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Apply(deltas); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deltas/s")
	b.ReportMetric(float64(b.N*batch)/(cpuTime()-cpu).Seconds(), "deltas/cpu-s")
}

// BenchmarkMemory1M measures heap in use by a 1M-node tree.
func BenchmarkMemory1M(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tr := bigTree(b)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(tr.Len()), "B/node")
		b.ReportMetric(float64(tr.Len()), "nodes")
		runtime.KeepAlive(tr)
	}
}

func benchGet(b *testing.B, k string) {
	tr := sharedBig()
	p, err := key.Parse(k)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		n = len(tr.Get(p))
	}
	b.ReportMetric(float64(n), "entries")
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/1e3/float64(b.N), "cpu-µs/read")
}

// benchGetJSON reads key as the API's /get does: straight into a reused
// JSON buffer (AppendJSON).
func benchGetJSON(b *testing.B, k string) {
	tr := sharedBig()
	p, err := key.Parse(k)
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		buf, _ = tr.AppendJSON(buf[:0], p)
	}
	b.ReportMetric(float64(len(buf)), "bytes")
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/1e3/float64(b.N), "cpu-µs/read")
}

func BenchmarkGetOneLevelJSON(b *testing.B) { benchGetJSON(b, "cpu,host500,") }
func BenchmarkGetAll1MJSON(b *testing.B)    { benchGetJSON(b, "**") }

func BenchmarkGetExact(b *testing.B)    { benchGet(b, "cpu,host500,metric500") }
func BenchmarkGetOneLevel(b *testing.B) { benchGet(b, "cpu,host500,") }
func BenchmarkGetAll1M(b *testing.B)    { benchGet(b, "**") }

func BenchmarkSnapshot1M(b *testing.B) {
	tr := sharedBig()
	path := filepath.Join(b.TempDir(), "tree.snap")
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := tr.WriteSnapshot(path, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/snapshot")
	b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/snapshot")
}

func BenchmarkRestore1M(b *testing.B) {
	tr := sharedBig()
	path := filepath.Join(b.TempDir(), "tree.snap")
	if err := tr.WriteSnapshot(path, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		back, _, err := LoadSnapshot(path)
		if err != nil {
			b.Fatal(err)
		}
		if back.Len() != tr.Len() {
			b.Fatal(fmt.Errorf("restored %d nodes, want %d", back.Len(), tr.Len()))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/restore")
	b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/restore")
}

// cpuTime is this process's user+system CPU time: on a shared, noisy
// machine it tracks the work done better than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
