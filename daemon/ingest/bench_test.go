package ingest

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
)

// BenchmarkReplayRead measures ingest's own cost per line (reading,
// splitting, batching) with a consumer that does nothing.
func BenchmarkReplayRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "access.log")
	f, _ := os.Create(path)
	const n = 200_000
	loggen.Write(f, loggen.Config{Lines: n, Seed: 1, Format: "main"})
	f.Close()
	var lines atomic.Int64
	c := ConsumerFunc(func(b *Batch) error { lines.Add(int64(len(b.Lines))); return nil })
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := Replay(context.Background(), []string{path}, ReplayOptions{Consumer: c}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines.Load())/time.Since(start).Seconds(), "lines/s")
}

// BenchmarkFollow measures the follower reading a finished file.
func BenchmarkFollow(b *testing.B) {
	path := filepath.Join(b.TempDir(), "access.log")
	f, _ := os.Create(path)
	const n = 200_000
	loggen.Write(f, loggen.Config{Lines: n, Seed: 1, Format: "main"})
	f.Close()
	b.ResetTimer()
	start := time.Now()
	var total int64
	for range b.N {
		var lines atomic.Int64
		done := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		c := ConsumerFunc(func(b *Batch) error {
			if lines.Add(int64(len(b.Lines))) == n {
				close(done)
			}
			return nil
		})
		in, err := New(Options{Files: []FileSource{{Path: path}}, Consumer: c, Logf: b.Logf})
		if err != nil {
			b.Fatal(err)
		}
		go in.Run(ctx)
		<-done
		cancel()
		total += lines.Load()
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "lines/s")
}
