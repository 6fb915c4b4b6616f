package pipeswasm

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// BenchmarkEngine runs generated main-format lines through the daemon's
// engine (parse once, the seven committed WASM pipes, merge into a tree)
// on every core, and, for the host's own share, through the same engine
// with no pipe. Besides wall-clock lines/s it reports the CPU the process
// spent per line and lines/cpu-s, what the work needs regardless of other
// load on a shared machine: on N idle cores expect about N × lines/cpu-s.
func BenchmarkEngine(b *testing.B) {
	lines, _, err := loggen.Lines(loggen.Config{Lines: 200_000, Seed: 1, Format: "main", Span: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	f := logformat.MustCompile("main")
	for _, tc := range []struct {
		name  string
		pipes []string
	}{
		{"host-only", nil},
		{"wasm7", builtin},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			for _, p := range tc.pipes {
				data, err := os.ReadFile(p + ".wasm")
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, p+".wasm"), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			m, err := pipes.New(pipes.Options{Dir: dir, Tree: tree.New(), Engine: pipetest.Engine(b), Log: log.New(io.Discard, "", 0)})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			fs := []*logformat.Format{f}
			m.Run(ctx, fs, nil, lines[:20000]) // warm up: instances per worker, caches
			n := 0
			cpu0 := processCPU()
			for b.Loop() {
				r := m.Run(ctx, fs, nil, lines)
				if r.Lines != len(lines) || r.Bad != 0 {
					b.Fatalf("ran %d of %d lines, %d bad", r.Lines, len(lines), r.Bad)
				}
				n += r.Lines
			}
			cpu := float64((processCPU() - cpu0).Nanoseconds()) / float64(n)
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(cpu, "cpu-ns/line")
			b.ReportMetric(1e9/cpu, "lines/cpu-s")
		})
	}
}

// processCPU is the user+system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
