package push

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/tree"
)

// benchDeltas is the number of deltas in benchPush: 20 top-level keys of
// 250 metrics, the shape of the relay's benchmarks.
const benchDeltas = 5000

func benchPush() []byte {
	var b strings.Builder
	b.WriteByte('{')
	for r := 0; r < 20; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"app%02d":{`, r)
		for k := 0; k < benchDeltas/20; k++ {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"metric%03d":%d`, k, 1+k%5)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// benchPerDelta runs fn b.N times and reports its CPU time per delta. A
// first run outside the timer warms the Decoder up, as a daemon's is.
func benchPerDelta(b *testing.B, deltas int, fn func() error) {
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N*deltas), "cpu-ns/delta")
}

func BenchmarkDecodePush(b *testing.B) {
	body := benchPush()
	var dec Decoder
	benchPerDelta(b, benchDeltas, func() error { _, err := dec.Decode(body); return err })
}

// BenchmarkDecodePushBatch decodes a relay's batch toward a daemon: a list of
// 20 pushes.
func BenchmarkDecodePushBatch(b *testing.B) {
	body := benchPush()
	batch := append([]byte{'['}, body...)
	for i := 1; i < 20; i++ {
		batch = append(append(batch, ','), body...)
	}
	batch = append(batch, ']')
	var dec Decoder
	benchPerDelta(b, 20*benchDeltas, func() error { _, err := dec.Decode(batch); return err })
}

func BenchmarkScanPush(b *testing.B) {
	body := benchPush()
	var dec Decoder
	benchPerDelta(b, benchDeltas, func() error { _, _, err := dec.Scan(body); return err })
}

func BenchmarkMarshalPush(b *testing.B) {
	p, _ := Decode(benchPush())
	benchPerDelta(b, benchDeltas, func() error { Marshal(p); return nil })
}

// BenchmarkMergeJSON decodes and merges with one Decoder, as the daemon's
// /push does.
func BenchmarkMergeJSON(b *testing.B) {
	body := benchPush()
	tr := tree.New()
	var dec Decoder
	benchPerDelta(b, benchDeltas, func() error { _, err := dec.Merge(tr, body); return err })
}

// cpuTime is this process's user+system CPU time: on a shared, noisy
// machine it tracks the work done better than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
