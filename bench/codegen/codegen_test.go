//go:build linux

package codegen

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

const seed = 42

// runner runs kernel k on calls batches (0, 1, …: the batches in turn)
// and returns the CPU time it took (the thread's) and the checksums' sum.
type runner func(k, calls int) (time.Duration, uint64, error)

type variant struct {
	name string
	run  runner
	cpu  [Kernels][]float64 // CPU ns per record, one per round
	sum  [Kernels]uint64
}

// TestFloor prints CPU ns per record of every kernel in every variant,
// medians over ROUNDS alternating rounds (after a warm-up round), and the
// fixed cost of one call.
func TestFloor(t *testing.T) {
	if os.Getenv("CODEGEN") == "" {
		t.Skip("set CODEGEN=1 to measure (ROUNDS, default 9; CALLS batches per measurement, default 128)")
	}
	rounds := envInt("ROUNDS", 9)
	calls := envInt("CALLS", 128)
	dir := t.TempDir()

	goWasm := filepath.Join(dir, "go.wasm")
	goWasmExt := filepath.Join(dir, "go-gowasm.wasm")
	buildGo(t, goWasm)
	buildGo(t, goWasmExt, "GOWASM=satconv,signext")
	e, err := host.NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	vs := []*variant{
		{name: "go native", run: goNative()},
		{name: "go wasm", run: hostWasm(t, e, goWasm)},
		{name: "go wasm, no loop checks", run: rawWasm(t, goWasm)},
		{name: "go wasm, GOWASM=satconv,signext", run: hostWasm(t, e, goWasmExt)},
	}
	cc, ccErr := exec.LookPath("clang-14")
	if _, err := exec.LookPath("wasm-ld-14"); ccErr == nil && err != nil {
		ccErr = err
	}
	if ccErr != nil {
		t.Logf("no C variants: %v", ccErr)
	} else {
		cNative, cWasm := filepath.Join(dir, "kernels"), filepath.Join(dir, "c.wasm")
		run(t, exec.Command(cc, "-O2", "-o", cNative, "c/kernels.c"))
		run(t, exec.Command(cc, "--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-Wl,--strip-all", "-o", cWasm, "c/kernels.c"))
		vs = append(vs,
			&variant{name: "c native", run: cProcess(cNative)},
			&variant{name: "c wasm", run: hostWasm(t, e, cWasm)},
			&variant{name: "c wasm, no loop checks", run: rawWasm(t, cWasm)},
		)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for r := 0; r <= rounds; r++ {
		for k := range Kernels {
			for _, v := range vs {
				d, sum, err := v.run(k, calls)
				if err != nil {
					t.Fatalf("%s %s: %v", v.name, Name(k), err)
				}
				v.sum[k] = sum
				if r > 0 { // round 0 warms up
					v.cpu[k] = append(v.cpu[k], float64(d.Nanoseconds())/float64(calls*N))
				}
			}
		}
	}
	for _, v := range vs[1:] {
		for k := range Kernels {
			if v.sum[k] != vs[0].sum[k] {
				t.Errorf("%s %s: checksum %d, go native's %d", v.name, Name(k), v.sum[k], vs[0].sum[k])
			}
		}
	}

	med := func(name string, k int) float64 {
		for _, v := range vs {
			if v.name == name {
				return median(v.cpu[k])
			}
		}
		return 0
	}
	fmt.Printf("CPU ns per record, median of %d rounds (%d batches of %d records each)\n\n", rounds, calls, N)
	fmt.Println("| kernel | Go native | Go wasm | Go wasm/native | C native | C wasm | C wasm/native | Go wasm/C wasm |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for k := range Kernels {
		gn, gw, cn, cw := med("go native", k), med("go wasm", k), med("c native", k), med("c wasm", k)
		fmt.Printf("| %s | %.2f | %.2f | %.1f× | %.2f | %.2f | %.2f× | %.1f× |\n", Name(k), gn, gw, gw/gn, cn, cw, cw/cn, gw/cw)
	}
	// The split: wazero on clang's wasm, Go's backend on top of that (its
	// wasm/native over C's, both without loop checks), then sdk/host's
	// loop checks.
	fmt.Println()
	fmt.Println("| kernel | wazero: C wasm/native, no checks | Go backend: Go ÷ C wasm/native, no checks | loop checks Go | loop checks C |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for k := range Kernels {
		gn, gw, gr := med("go native", k), med("go wasm", k), med("go wasm, no loop checks", k)
		cn, cw, cr := med("c native", k), med("c wasm", k), med("c wasm, no loop checks", k)
		fmt.Printf("| %s | %.2f× | %.2f× | %.2f× | %.2f× |\n", Name(k), cr/cn, (gr/gn)/(cr/cn), gw/gr, cw/cr)
	}
	fmt.Println()
	fmt.Println("| kernel | variant | CPU ns/record | ÷ its native | per round |")
	fmt.Println("|---|---|---:|---:|---|")
	for k := range Kernels {
		for _, v := range vs {
			native := med("go native", k)
			if strings.HasPrefix(v.name, "c ") {
				native = med("c native", k)
			}
			fmt.Printf("| %s | %s | %.2f | %.2f× | %s |\n", Name(k), v.name, median(v.cpu[k]), median(v.cpu[k])/native, rounded(v.cpu[k]))
		}
	}
	fmt.Println()
	callCost(t, e, goWasm, "go")
	if ccErr == nil {
		callCost(t, e, filepath.Join(dir, "c.wasm"), "c")
	}
}

// callCost prints the fixed cost of calling an empty export through
// sdk/host (its watchdog timer included) and through wazero alone.
func callCost(t *testing.T, e *host.Engine, file, name string) {
	const n = 100000
	ctx := context.Background()
	in := instantiate(t, e, file)
	fn := in.Func("nop")
	c0 := threadCPU()
	for range n {
		if _, err := in.Call(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	hostNs := float64(threadCPU()-c0) / n
	mod := rawModule(t, file)
	raw := mod.ExportedFunction("nop")
	c0 = threadCPU()
	for range n {
		if _, err := raw.Call(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("%s guest, empty call: %.0f CPU-ns through sdk/host, %.0f through wazero alone\n", name, hostNs, float64(threadCPU()-c0)/n)
}

func goNative() runner {
	s := New(seed)
	return func(k, calls int) (time.Duration, uint64, error) {
		c0 := threadCPU()
		x := uint64(0)
		for i := range calls {
			x += s.Run(k, i)
		}
		return threadCPU() - c0, x, nil
	}
}

// hostWasm runs file as the pipes run: compiled and called by sdk/host
// (loop checks, watchdog timer per call), one call per batch.
func hostWasm(t *testing.T, e *host.Engine, file string) runner {
	ctx := context.Background()
	in := instantiate(t, e, file)
	fn := in.Func("run")
	return func(k, calls int) (time.Duration, uint64, error) {
		c0 := threadCPU()
		x := uint64(0)
		for i := range calls {
			r, err := in.Call(ctx, fn, uint64(k), uint64(i))
			if err != nil {
				return 0, 0, err
			}
			x += r
		}
		return threadCPU() - c0, x, nil
	}
}

func instantiate(t *testing.T, e *host.Engine, file string) *host.Instance {
	ctx := context.Background()
	wasm, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, filepath.Base(file), wasm, host.Limits{CallTimeout: time.Minute}, host.Grants{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(ctx) })
	in, err := m.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Call(ctx, in.Func("setup"), seed); err != nil {
		t.Fatal(err)
	}
	return in
}

// rawWasm runs file under wazero's compiler as sdk/host configures it, but
// without sdk/host's module rewrite (no loop checks) and watchdog.
func rawWasm(t *testing.T, file string) runner {
	ctx := context.Background()
	fn := rawModule(t, file).ExportedFunction("run")
	return func(k, calls int) (time.Duration, uint64, error) {
		c0 := threadCPU()
		x := uint64(0)
		for i := range calls {
			r, err := fn.Call(ctx, uint64(k), uint64(i))
			if err != nil {
				return 0, 0, err
			}
			x += r[0]
		}
		return threadCPU() - c0, x, nil
	}
}

func rawModule(t *testing.T, file string) api.Module {
	ctx := context.Background()
	wasm, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	t.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.ExportedFunction("setup").Call(ctx, seed); err != nil {
		t.Fatal(err)
	}
	return mod
}

// cProcess runs the native C build, which times itself (setup and process
// start-up excluded).
func cProcess(bin string) runner {
	return func(k, calls int) (time.Duration, uint64, error) {
		out, err := exec.Command(bin, strconv.Itoa(seed), strconv.Itoa(k), strconv.Itoa(calls)).Output()
		if err != nil {
			return 0, 0, fmt.Errorf("cannot run %s: %w", bin, err)
		}
		f := strings.Fields(string(out))
		if len(f) != 2 {
			return 0, 0, fmt.Errorf("cannot read %s's output %q", bin, out)
		}
		ns, err1 := strconv.ParseInt(f[0], 10, 64)
		sum, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("cannot read %s's output %q", bin, out)
		}
		return time.Duration(ns), sum, nil
	}
}

// buildGo builds ./guest for wasip1 with the built-in pipes' flags.
func buildGo(t *testing.T, out string, env ...string) {
	//lint:ignore SA1019 the toolchain that runs this test builds the guest; GOROOT may be unset in the environment
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goTool, "build", "-trimpath", "-buildmode=c-shared", "-ldflags=-s -w -buildid=", "-o", out, "./guest")
	cmd.Env = append(append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"), env...)
	run(t, cmd)
}

func run(t *testing.T, cmd *exec.Cmd) {
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot run %v: %v\n%s", cmd.Args, err, b)
	}
}

// BenchmarkGo times the Go kernels natively (ns/op is per batch of N
// records; ns/record is reported too).
func BenchmarkGo(b *testing.B) {
	for k := range Kernels {
		b.Run(Name(k), func(b *testing.B) {
			s := New(seed)
			i := 0
			for b.Loop() {
				s.Run(k, i)
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*N), "ns/record")
		})
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func median(s []float64) float64 {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return c[len(c)/2]
}

func rounded(s []float64) string {
	var b strings.Builder
	for i, v := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.2f", v)
	}
	return b.String()
}

func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0) // CLOCK_THREAD_CPUTIME_ID
	return time.Duration(ts.Nano())
}
