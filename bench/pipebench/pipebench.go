// Package pipebench measures log pipes natively and as WASM in the same run,
// on lines from daemon/loggen parsed once up front, so ns/line is the pipe's
// own cost (decode the batch, run the pipe, encode and decode the deltas).
//
// A pipe's Go value lives in its package main (pipes-src/NAME), which no
// other package can import; so each pipe's own benchmark calls Pipe with
// its value and its committed .wasm, and `go tool -modfile=tools/go.mod task bench:pipes` adds the
// per-pipe figures up.
package pipebench

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// Lines and BatchSize shape the workload: a day of generated traffic in the
// main format (combined + times), sent in batches as the daemon does.
const (
	Lines     = 32768
	BatchSize = 8192 // as daemon/pipes.DefaultBatchSize
)

// Records returns n generated main-format lines as host records (the
// user agent classified as the daemon's parser does). Bad lines are left
// out: they never reach a pipe.
func Records(n int, seed uint64) ([]pipeabi.Record, error) {
	lines, _, err := loggen.Lines(loggen.Config{Lines: n, Seed: seed, Format: "main", Span: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	p := logformat.MustCompile("main").NewParser()
	recs := make([]pipeabi.Record, 0, n)
	for _, l := range lines {
		lr := new(logformat.Record) // each record keeps its own parse alive
		if err := p.Parse(l, lr); err != nil {
			continue
		}
		var r pipeabi.Record
		host.FromLog(&r, lr)
		recs = append(recs, r)
	}
	return recs, nil
}

// Batch is one encoded record batch.
type Batch struct {
	Buf []byte
	N   int
}

// Encode encodes recs for a pipe's manifest in batches of BatchSize.
func Encode(m *pipeabi.Manifest, recs []pipeabi.Record) ([]Batch, error) {
	l, err := pipeabi.NewLayout(m.Fields)
	if err != nil {
		return nil, err
	}
	var out []Batch
	for start := 0; start < len(recs); start += BatchSize {
		end := min(start+BatchSize, len(recs))
		buf := l.AppendBatch(nil, recs[start:end])
		out = append(out, Batch{buf, end - start})
	}
	return out, nil
}

// Pipe runs sub-benchmarks NAME/native (p in-process through pipe.Runner)
// and NAME/wasm (wasmFile on one wazero instance) over the same batches and
// reports ns/line for each, the WASM run's multiple of the native time
// (x-native, by CPU time) and the memory of the instance.
func Pipe(b *testing.B, p pipe.Pipe, wasmFile string) {
	PipeWith(b, p, wasmFile, host.PipeOptions{})
}

// PipeWith is Pipe with params and grants (the geo pipe's database): the
// native run gets opt.Params, the WASM one all of opt.
func PipeWith(b *testing.B, p pipe.Pipe, wasmFile string, opt host.PipeOptions) {
	recs, err := Records(Lines, 1)
	if err != nil {
		b.Fatal(err)
	}
	run := pipe.NewRunner(p)
	m := run.Manifest()
	if _, err := wire.CheckStatus(run.Init(pipetest.EncodeConfig(opt.Params))); err != nil {
		b.Fatal(err)
	}
	batches, err := Encode(m, recs)
	if err != nil {
		b.Fatal(err)
	}
	var native float64 // ns/line of the native run, for the ratio
	b.Run(m.Name+"/native", func(b *testing.B) {
		var ds []pipeabi.Delta
		native = loop(b, batches, func(bt Batch) error {
			var err error
			ds, err = pipeabi.DecodeDeltas(ds[:0], run.Process(bt.Buf), m)
			return err
		})
	})
	b.Run(m.Name+"/wasm", func(b *testing.B) {
		wp := pipetest.LoadWASMWith(b, wasmFile, opt)
		ctx := context.Background()
		pi, err := wp.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer wp.Put(ctx, pi)
		var ds []pipeabi.Delta
		ns := loop(b, batches, func(bt Batch) error {
			var err error
			ds, err = pi.Process(ctx, bt.Buf, bt.N, ds[:0])
			return err
		})
		b.ReportMetric(float64(wp.Stats().InstanceBytes)/(1<<20), "MiB/instance")
		if native > 0 {
			b.ReportMetric(ns/native, "x-native")
		}
	})
}

// loop runs one batch per iteration and reports ns/line (wall time) and
// cpu-ns/line (CPU time of the benchmark's thread: the pipe runs on the
// calling thread, natively and in wazero alike, so on a machine shared with
// other work this is the pipe's own cost). It returns cpu-ns/line.
func loop(b *testing.B, batches []Batch, call func(Batch) error) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lines := 0
	var cpu0 time.Duration
	for i := 0; b.Loop(); i++ {
		if i == 0 {
			cpu0 = threadCPU()
		}
		bt := batches[i%len(batches)]
		if err := call(bt); err != nil {
			b.Fatal(fmt.Errorf("batch %d: %w", i%len(batches), err))
		}
		lines += bt.N
	}
	n := float64(max(lines, 1))
	cpu := float64((threadCPU() - cpu0).Nanoseconds()) / n
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/line")
	b.ReportMetric(cpu, "cpu-ns/line")
	return cpu
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
