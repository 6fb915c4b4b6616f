//go:build linux

// Package wasmab measures built-in pipe .wasm files against each other in
// one run, for before → after figures on a shared machine: TestAB runs
// pipebench's records through each file in turn, round after round, and
// prints each one's CPU time per line (the calling thread's,
// CLOCK_THREAD_CPUTIME_ID); TestProf times chosen guest functions with a
// wazero function listener (inclusive wall time, each call adding the
// listener's own ~0.3 µs, so read its call counts and compare runs, not
// absolute times). Both skip unless WASM is set:
//
//	WASM=old/hosts.wasm@2048,pipes-wasm/hosts.wasm@8192 ROUNDS=8 go test ./bench/wasmab -run TestAB -v
//	WASM=hosts.wasm FUNCS='topn.*Add$|mallocgc$' go test ./bench/wasmab -run TestProf -v
//
// (build an unstripped .wasm for TestProf's names; GEODB=FILE grants the
// geo pipe its database; LIST=1 prints the function names.)
package wasmab

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// TestAB runs variants (WASM=a.wasm[@batch],b.wasm[@batch]) interleaved,
// ROUNDS times (after one warm-up round), and prints CPU ns per line.
func TestAB(t *testing.T) {
	if os.Getenv("WASM") == "" {
		t.Skip("set WASM to the .wasm files to compare")
	}
	ctx := context.Background()
	e, err := host.NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := pipebench.Records(pipebench.Lines, 1)
	if err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name    string
		pi      *host.PipeInstance
		batches []pipebench.Batch
		cpu     []float64
	}
	var vs []*variant
	for _, spec := range strings.Split(os.Getenv("WASM"), ",") {
		file, bs := spec, 2048
		if i := strings.IndexByte(spec, '@'); i >= 0 {
			file = spec[:i]
			bs, _ = strconv.Atoi(spec[i+1:])
		}
		wasm, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		opt := host.PipeOptions{Limits: host.Limits{CallTimeout: time.Minute}}
		if db := os.Getenv("GEODB"); db != "" && strings.Contains(file, "geo") {
			opt.Params = map[string]string{"database": db}
			opt.Grants.Files = []host.FileGrant{{HostFile: db, GuestPath: db}}
		}
		wp, err := e.LoadPipe(ctx, file, wasm, opt)
		if err != nil {
			t.Fatal(err)
		}
		pi, err := wp.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := pipeabi.NewLayout(wp.Manifest.Fields)
		var bt []pipebench.Batch
		for s := 0; s < len(recs); s += bs {
			end := min(s+bs, len(recs))
			bt = append(bt, pipebench.Batch{Buf: l.AppendBatch(nil, recs[s:end]), N: end - s})
		}
		vs = append(vs, &variant{name: spec, pi: pi, batches: bt})
	}
	rounds, _ := strconv.Atoi(os.Getenv("ROUNDS"))
	rounds = max(rounds, 3)
	runtime.LockOSThread()
	var ds []pipeabi.Delta
	for r := 0; r <= rounds; r++ {
		for _, v := range vs {
			c0 := threadCPU()
			lines := 0
			for range 2 {
				for _, b := range v.batches {
					if ds, err = v.pi.Process(ctx, b.Buf, b.N, ds[:0]); err != nil {
						t.Fatal(err)
					}
					lines += b.N
				}
			}
			if r > 0 { // round 0 warms up
				v.cpu = append(v.cpu, float64(threadCPU()-c0)/float64(lines))
			}
		}
	}
	for _, v := range vs {
		fmt.Printf("%-40s min %7.0f  median %7.0f cpu-ns/line  %v\n", v.name, minf(v.cpu), median(v.cpu), round(v.cpu))
	}
}

func minf(s []float64) float64 {
	m := s[0]
	for _, v := range s {
		m = min(m, v)
	}
	return m
}

func median(s []float64) float64 {
	c := append([]float64(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c[len(c)/2]
}

func round(s []float64) []int {
	var o []int
	for _, v := range s {
		o = append(o, int(v))
	}
	return o
}
