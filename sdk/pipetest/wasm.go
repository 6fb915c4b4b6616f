package pipetest

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// CacheDir is the on-disk wazero compilation cache tests share, so a
// module compiles once per machine rather than once per test.
func CacheDir() string { return filepath.Join(os.TempDir(), "canopy-wazero-cache") }

// Engine returns a host engine using CacheDir, closed when t ends.
func Engine(t testing.TB) *host.Engine {
	t.Helper()
	e, err := host.NewEngine(CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// Build compiles the Go pipe in package directory pkgDir to a WASM module
// (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared) in a temporary directory
// and returns its path.
func Build(t testing.TB, pkgDir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkgDir)+".wasm")
	if err := BuildWASM(pkgDir, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// BuildWASM compiles the Go pipe in pkgDir to out with the flags the
// built-in pipes use (-trimpath, no build ID, so builds are reproducible);
// extra linker flags (e.g. "-X main.mode=loop") are appended.
func BuildWASM(pkgDir, out string, ldflags ...string) error {
	abs, err := filepath.Abs(pkgDir)
	if err != nil {
		return err
	}
	cmd := exec.Command(goTool(), "build", "-trimpath", "-buildmode=c-shared", "-ldflags=-s -w -buildid= "+strings.Join(ldflags, " "), "-o", out, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return errors.New("cannot build " + pkgDir + " for wasip1: " + err.Error() + "\n" + string(b))
	}
	return nil
}

func goTool() string {
	//lint:ignore SA1019 the toolchain that built this binary builds the guests too; GOROOT may be unset in the environment
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// LoadWASM loads a .wasm pipe with params cfg; it is closed when t ends.
func LoadWASM(t testing.TB, file string, cfg map[string]string) *host.Pipe {
	t.Helper()
	return LoadWASMWith(t, file, host.PipeOptions{Params: cfg})
}

// LoadWASMWith loads a .wasm pipe with opt (params and grants, such as the
// geo pipe's database file); it is closed when t ends.
func LoadWASMWith(t testing.TB, file string, opt host.PipeOptions) *host.Pipe {
	t.Helper()
	wasm, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := Engine(t).LoadPipe(ctx, file, wasm, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

// WASM runs the .wasm pipe file over recs with params cfg.
func WASM(t testing.TB, file string, cfg map[string]string, recs []pipeabi.Record) *Result {
	t.Helper()
	p := LoadWASM(t, file, cfg)
	res, err := RunPipe(p, recs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// RunPipe runs a loaded pipe over recs in batches of BatchSize on one
// instance and merges the deltas.
func RunPipe(p *host.Pipe, recs []pipeabi.Record) (*Result, error) {
	ctx := context.Background()
	pi, err := p.Get(ctx)
	if err != nil {
		return nil, err
	}
	defer p.Put(ctx, pi)
	res := newResult(p.Manifest)
	var buf []byte
	var ds []pipeabi.Delta
	for start := 0; start < len(recs); start += BatchSize {
		end := min(start+BatchSize, len(recs))
		buf = p.Layout.AppendBatch(buf[:0], recs[start:end])
		ds, err = pi.Process(ctx, buf, end-start, ds[:0])
		if err != nil {
			return nil, err
		}
		res.Merge(ds)
	}
	return res, nil
}

// Lines parses log text in an nginx log_format ("combined", "main", or
// the format text) into records; it fails the test on a bad line.
func Lines(t testing.TB, format, text string) []pipeabi.Record {
	t.Helper()
	f, err := logformat.Compile(format)
	if err != nil {
		t.Fatal(err)
	}
	p := f.NewParser()
	var recs []pipeabi.Record
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, logformat.MaxLineLen+2)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var lr logformat.Record
		if err := p.Parse([]byte(sc.Text()), &lr); err != nil {
			t.Fatalf("line %d: %v: %q", n, err, sc.Text())
		}
		var r pipeabi.Record
		host.FromLog(&r, &lr) // aliases lr, which stays alive with r
		recs = append(recs, r)
	}
	return recs
}
