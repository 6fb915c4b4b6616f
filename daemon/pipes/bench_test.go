package pipes

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// benchLines is the generated workload: a day of traffic in nginx's
// "main" format (combined + $request_time $upstream_response_time).
var benchLines = sync.OnceValues(func() ([][]byte, error) {
	lines, _, err := loggen.Lines(loggen.Config{Lines: 200_000, Seed: 1, Format: "main", Span: 24 * time.Hour})
	return lines, err
})

// BenchmarkPipeline measures the whole engine — parse each line once, run
// all seven built-in pipes, merge the deltas into the tree — on every core,
// with the pipes as WASM (pipes-wasm/) and natively built (the same
// pipes-src linked into a generated benchmark behind the same batch
// encoding, see nativeMetrics), in the same run.
func BenchmarkPipeline(b *testing.B) {
	lines, err := benchLines()
	if err != nil {
		b.Fatal(err)
	}
	// Three rounds, each a WASM run bracketed by native runs (right before
	// and right after; their mean is compared with it), so a drift of this
	// shared machine's speed moves both sides of a ratio alike; the summary
	// takes the median round.
	for range 3 {
		var before map[string]float64
		b.Run("wasm", func(b *testing.B) {
			before = nativeMetrics(b)
			dir := builtinDir(b)
			m, err := New(Options{Dir: dir, Tree: tree.New(), Engine: pipetest.Engine(b), Log: log.New(io.Discard, "", 0)})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			runPipeline(b, m, lines)
		})
		b.Run("native", func(b *testing.B) {
			after := nativeMetrics(b)
			for unit, v := range after {
				if pv, ok := before[unit]; ok {
					v = (v + pv) / 2
				}
				b.ReportMetric(v, unit)
				switch {
				case unit == "cpu-ns/line" && wasmCPUPerLine > 0:
					b.ReportMetric(wasmCPUPerLine/v, "wasm/native")
				case unit == "lines/s" && wasmLinesPerSec > 0:
					b.ReportMetric(v/wasmLinesPerSec, "wasm/native-wall")
				}
			}
		})
	}
}

// nativeMetrics measures the same seven pipes built natively and linked
// into one program, each instance a fresh Go value behind the same batch
// encoding (pipe.Runner), and returns its metrics by unit. A pipe lives in
// its own package main, which nothing can import, so this copies each
// pipes-src/NAME into a temporary importable package (only the package
// clause changes), generates a benchmark that links them all, and runs it
// with `go test`.
func nativeMetrics(b *testing.B) map[string]float64 {
	// Under pipes-src/internal so the copies may use the pipes' internal
	// packages; removed afterwards.
	gen, err := os.MkdirTemp(filepath.Join("..", "..", "pipes-src", "internal"), "nativegen_")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(gen)
	var imports strings.Builder
	for _, name := range builtins {
		src := filepath.Join("..", "..", "pipes-src", name)
		files, _ := filepath.Glob(filepath.Join(src, "*.go"))
		if err := os.MkdirAll(filepath.Join(gen, name), 0o755); err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			out := strings.Replace(string(data), "\npackage main\n", "\npackage "+name+"\n", 1)
			if strings.HasPrefix(out, "package main\n") {
				out = "package " + name + "\n" + out[len("package main\n"):]
			}
			if err := os.WriteFile(filepath.Join(gen, name, filepath.Base(f)), []byte(out), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		fmt.Fprintf(&imports, "\t_ \"github.com/canopy-dev/canopy/pipes-src/internal/%s/%s\"\n", filepath.Base(gen), name)
	}
	code := strings.Replace(nativeBenchSource, "\t// PIPES\n", imports.String(), 1)
	if err := os.WriteFile(filepath.Join(gen, "native_test.go"), []byte(code), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("go", "test", "./pipes-src/internal/"+filepath.Base(gen), "-run", "^$", "-bench", "BenchmarkNative", "-benchtime", fmt.Sprintf("%dx", max(b.N, 1)), "-count", "1")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("native benchmark: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkNative") {
			continue
		}
		ms := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil && f[i+1] != "ns/op" {
				ms[f[i+1]] = v
			}
		}
		return ms
	}
	b.Fatalf("no BenchmarkNative line in:\n%s", out)
	return nil
}

// nativeBenchSource is the generated benchmark; "// PIPES" becomes the
// imports of the copied pipe packages (their init functions register).
const nativeBenchSource = `package nativegen

import (
	"context"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipe"
	// PIPES
)

func cpu() time.Duration {
	b, _ := os.ReadFile("/proc/self/stat")
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+1:]
	f := strings.Fields(s)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

func BenchmarkNative(b *testing.B) {
	lines, _, err := loggen.Lines(loggen.Config{Lines: 200_000, Seed: 1, Format: "main", Span: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	eng, _ := host.NewEngine("")
	m, err := pipes.New(pipes.Options{Tree: tree.New(), Engine: eng, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range pipe.Registered() {
		name := p.Manifest().Name
		hp, err := host.NewPipe(ctx, name, host.RunnerFactory(p), host.PipeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Add(name, hp); err != nil {
			b.Fatal(err)
		}
	}
	fs := []*logformat.Format{logformat.MustCompile("main")}
	m.Run(ctx, fs, nil, lines[:20000])
	base := map[string]host.PipeStats{}
	for _, p := range m.Status().Pipes {
		base[p.File] = p.PipeStats
	}
	n := 0
	c0 := cpu()
	for b.Loop() {
		n += m.Run(ctx, fs, nil, lines).Lines
	}
	c := cpu() - c0
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(c.Nanoseconds())/float64(n), "cpu-ns/line")
	b.ReportMetric(float64(n)/c.Seconds(), "lines/cpu-s")
	sum := 0.0
	for _, p := range m.Status().Pipes {
		s, b0 := p.PipeStats, base[p.File]
		ns := (s.NanosPerLine*float64(s.Records) - b0.NanosPerLine*float64(b0.Records)) / float64(s.Records-b0.Records)
		b.ReportMetric(ns, "ns/line-"+p.File)
		sum += ns
	}
	b.ReportMetric(sum, "ns/line-pipes")
}
`

// wasmCPUPerLine and wasmLinesPerSec carry the wasm run's CPU per line and
// throughput to the native run (they run in that order) for the ratios:
// wasm/native by CPU time, wasm/native-wall by elapsed time.
var wasmCPUPerLine, wasmLinesPerSec float64

// processCPU is the CPU time used by this process and its live children
// (the native pipes), from /proc.
func processCPU() time.Duration {
	total := procCPU("self")
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(b)) {
			total += procCPU(pid)
		}
	}
	return total
}

// procCPU reads utime+stime of /proc/PID/stat.
func procCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}

func runPipeline(b *testing.B, m *Manager, lines [][]byte) {
	f := logformat.MustCompile("main")
	ctx := context.Background()
	// Warm up: one instance per worker, caches filled.
	m.Run(ctx, []*logformat.Format{f}, nil, lines[:20000])
	base := map[string]host.PipeStats{}
	for _, p := range m.Status().Pipes {
		base[p.File] = p.PipeStats
	}
	var n int
	cpu0 := processCPU()
	for b.Loop() {
		r := m.Run(ctx, []*logformat.Format{f}, nil, lines)
		if r.Lines != len(lines) {
			b.Fatalf("ran %d of %d lines", r.Lines, len(lines))
		}
		n += r.Lines
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/line")
	// CPU per line (this process and its children, i.e. the native pipes)
	// does not depend on what else the machine runs: on 2 idle cores the
	// engine does about 2 × lines/cpu-s.
	cpuPerLine := float64(cpu.Nanoseconds()) / float64(n)
	b.ReportMetric(cpuPerLine, "cpu-ns/line")
	b.ReportMetric(1e9/cpuPerLine, "lines/cpu-s")
	wasmCPUPerLine, wasmLinesPerSec = cpuPerLine, float64(n)/b.Elapsed().Seconds()
	// Per-pipe cost: time inside each pipe's calls (write the batch, run,
	// read and check the deltas) per line, summed over workers.
	st := m.Status()
	sort.Slice(st.Pipes, func(i, j int) bool { return st.Pipes[i].File < st.Pipes[j].File })
	var sum float64
	var mem uint32
	for _, p := range st.Pipes {
		s, b0 := p.PipeStats, base[p.File]
		if s.Records > b0.Records {
			ns := (s.NanosPerLine*float64(s.Records) - b0.NanosPerLine*float64(b0.Records)) / float64(s.Records-b0.Records)
			name := strings.TrimSuffix(p.File, ".wasm")
			b.ReportMetric(ns, "ns/line-"+name)
			sum += ns
		}
		mem = max(mem, s.InstanceBytes)
		if s.Failures > 0 {
			b.Errorf("%s failed: %s", p.File, s.LastError)
		}
	}
	b.ReportMetric(sum, "ns/line-pipes")
	if mem > 0 {
		b.ReportMetric(float64(mem)/(1<<20), "MiB/instance")
	}
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}
