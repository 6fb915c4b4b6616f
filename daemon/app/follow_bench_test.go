package app

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// BenchmarkFollowDaemon measures the daemon's follow path as it runs: a
// whole Daemon (every built-in pipe, trend store, clock, snapshots)
// follows a file that a writer appends to as fast as it can in 1 MiB
// writes of whole lines, until every line is applied. It reports lines/s
// (wall) and the process's CPU-ns per line (user + system; the writer's
// share is its write calls). -cpuprofile profiles the same path.
func BenchmarkFollowDaemon(b *testing.B) {
	const n = 200_000
	var log bytes.Buffer
	// Lines of the present, as a live server's: the daemon dates lines
	// more than a tick old as a backlog, interval by interval.
	if _, err := loggen.Write(&log, loggen.Config{Lines: n, Seed: 1, Format: "combined", Start: time.Now()}); err != nil {
		b.Fatal(err)
	}
	var wall, cpu time.Duration
	for i := range b.N {
		dir := b.TempDir()
		logPath := filepath.Join(dir, "access.log")
		if err := os.WriteFile(logPath, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		cfg := Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
			Pipes:  PipeFlags{Builtin: true, Cache: pipetest.CacheDir()},
			Ingest: IngestFlags{Log: logPath, LogFormat: "combined"}}
		d := startDaemon(b, cfg)
		<-d.pipes.Ready()
		stats := d.ingest.ing.Stats()
		cpu0 := processCPU(b)
		start := time.Now()
		if err := appendWhole(logPath, log.Bytes(), 1<<20); err != nil {
			b.Fatal(err)
		}
		for stats.Lines.Load() < n {
			time.Sleep(time.Millisecond)
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("run %d: %d of %d lines applied after 5 minutes", i, stats.Lines.Load(), n)
			}
		}
		wall += time.Since(start)
		cpu += processCPU(b) - cpu0
		if err := d.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	lines := float64(n) * float64(b.N)
	b.ReportMetric(lines/wall.Seconds(), "lines/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/lines, "cpu-ns/line")
}

// appendWhole appends data to path in writes of about size bytes, each
// ending at a line end, as a busy web server's log grows.
func appendWhole(path string, data []byte, size int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		cut := len(data)
		if cut > size {
			cut = bytes.LastIndexByte(data[:size], '\n') + 1
		}
		if _, err := f.Write(data[:cut]); err != nil {
			f.Close()
			return fmt.Errorf("cannot append to %s: %w", path, err)
		}
		data = data[cut:]
	}
	return f.Close()
}

// processCPU is this process's user + system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
