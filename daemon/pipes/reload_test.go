package pipes

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// waitVersion waits until the folder's file runs pipe version v and returns
// how long that took.
func waitVersion(t *testing.T, m *Manager, file, v string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 60*time.Second {
		for _, p := range m.Status().Pipes {
			if p.File == file && p.Loaded && p.Version == v {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never ran version %s: %+v", file, v, m.Status())
	return 0
}

// TestHotReload replaces a pipe with a new version (and back) while two
// goroutines stream lines in: every line is counted exactly once.
func TestHotReload(t *testing.T) {
	bin := t.TempDir()
	for _, v := range []string{"1", "2"} {
		if err := pipetest.BuildWASM("testdata/counter", filepath.Join(bin, "counter"+v+".wasm"), "-X main.version="+v); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	copyFile(t, filepath.Join(bin, "counter1.wasm"), filepath.Join(dir, "counter.wasm"))
	tr := tree.New()
	m, err := New(Options{Dir: dir, Tree: tr, Engine: pipetest.Engine(t), Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Watch(ctx)

	f := logformat.MustCompile("combined")
	var batch [][]byte
	for i := range 300 {
		batch = append(batch, fmt.Appendf(nil, `10.0.0.%d - - [05/Jan/2026:10:00:00 +0800] "GET /x HTTP/1.1" 200 1 "-" "curl/8"`, i%250))
	}
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := m.Run(ctx, []*logformat.Format{f}, nil, batch)
				sent.Add(int64(r.Lines - r.Bad))
			}
		}()
	}
	var worst time.Duration
	for i, v := range []string{"2", "1", "2", "1"} {
		time.Sleep(150 * time.Millisecond)
		copyFile(t, filepath.Join(bin, "counter"+v+".wasm"), filepath.Join(dir, "counter.wasm"))
		// Same size as before: make sure the modification time differs.
		now := time.Now().Add(time.Duration(i+1) * time.Second)
		os.Chtimes(filepath.Join(dir, "counter.wasm"), now, now)
		d := waitVersion(t, m, "counter.wasm", v)
		t.Logf("reload %d: %v (load %.0f ms)", i, d, m.Status().Pipes[0].LoadMs)
		worst = max(worst, d)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("slowest reload took %v; %d lines streamed", worst.Round(time.Millisecond), sent.Load())
	// The 2 s target holds on an idle machine (see the report of `task
	// bench:pipes`); here only a hang fails, since CI machines are shared.
	if worst > 60*time.Second {
		t.Errorf("a reload took %v", worst)
	}
	p, _ := key.Parse("lines,total")
	got := tr.Get(p)
	if len(got) != 1 || got[0].Value != float64(sent.Load()) {
		t.Fatalf("lines,total = %+v, want %d", got, sent.Load())
	}
	if st := m.Status(); st.Pipes[0].Failures != 0 {
		t.Errorf("status %+v", st)
	}
	// Ticks reach every idle instance (two workers made two).
	m.Tick(ctx, time.Now())
	p, _ = key.Parse("lines,ticks")
	if got := tr.Get(p); len(got) != 1 || got[0].Value != float64(m.Status().Pipes[0].Instances) {
		t.Errorf("lines,ticks = %+v, want one per instance (%d)", got, m.Status().Pipes[0].Instances)
	}
}

// TestAddRemove drops a pipe into the running folder and takes it out.
func TestAddRemove(t *testing.T) {
	dir := t.TempDir()
	tr := tree.New()
	m, err := New(Options{Dir: dir, Tree: tr, Engine: pipetest.Engine(t), Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Watch(ctx)
	copyFile(t, filepath.Join("..", "..", "pipes-wasm", "status.wasm"), filepath.Join(dir, "status.wasm"))
	d := waitVersion(t, m, "status.wasm", "1.0.0")
	t.Logf("added in %v", d.Round(time.Millisecond))
	// A broken replacement is reported and the working version keeps running.
	if err := os.WriteFile(filepath.Join(dir, "status.wasm"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status().Pipes; len(st) != 1 || !st[0].Loaded || st[0].Version != "1.0.0" || st[0].LoadError == "" {
		t.Fatalf("after a broken replacement: %+v", st)
	}
	os.Remove(filepath.Join(dir, "status.wasm"))
	start := time.Now()
	for len(m.Status().Pipes) != 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("status.wasm still loaded after removal")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("removed in %v", time.Since(start).Round(time.Millisecond))
}

// TestSettle: the watcher's scans load a file only once it stops changing,
// so a file copied in place is never loaded half-written.
func TestSettle(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Options{Dir: dir, Tree: tree.New(), Engine: pipetest.Engine(t), Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	wasm, err := os.ReadFile(filepath.Join("..", "..", "pipes-wasm", "status.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "status.wasm")
	ctx := t.Context()
	steps := []struct {
		write  []byte // nil: leave the file as it is
		loaded bool
	}{
		{wasm[:len(wasm)/2], false}, // a copy under way
		{wasm, false},               // grown since: still settling
		{nil, true},                 // unchanged for a scan: loaded
	}
	for i, s := range steps {
		if s.write != nil {
			if err := os.WriteFile(file, s.write, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.scan(ctx, true); err != nil {
			t.Fatal(err)
		}
		st := m.Status().Pipes
		if loaded := len(st) == 1 && st[0].Loaded; loaded != s.loaded {
			t.Fatalf("step %d: loaded %v, want %v: %+v", i, loaded, s.loaded, st)
		}
		if len(st) > 0 && st[0].LoadError != "" {
			t.Fatalf("step %d: a load was tried: %s", i, st[0].LoadError)
		}
	}
}

// TestHostileFiles: folder files that are no module are refused with a
// reason, and none can stall the scanner (a named pipe would block a read
// until someone writes to it).
func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Options{Dir: dir, Tree: tree.New(), Engine: pipetest.Engine(t), Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct {
		name, want string
		make       func(path string) error
	}{
		{"fifo", "not a regular file but a named pipe", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"huge", "more than the 67108864", func(p string) error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(1 << 30) // sparse: no disk used
		}},
		{"symlink", "not a WebAssembly module", func(p string) error { return os.Symlink("/etc/passwd", p) }},
		{"empty", "is empty (0 bytes)", func(p string) error { return os.WriteFile(p, nil, 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.make(filepath.Join(dir, tc.name+".wasm")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- m.Scan(t.Context()) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the scan is stuck")
			}
			for _, p := range m.Status().Pipes {
				if p.File == tc.name+".wasm" {
					if p.Loaded || !p.Quarantined || !strings.Contains(p.LoadError, tc.want) || strings.Contains(p.LoadError, "root:") {
						t.Errorf("status %+v, want refused with %q", p, tc.want)
					}
					return
				}
			}
			t.Errorf("%s.wasm missing from status", tc.name)
		})
	}
}
