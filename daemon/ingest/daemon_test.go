package ingest

// Helpers for integration tests that drive the real canopyd binary.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestMain removes the daemon binary and the shared WASM cache afterwards.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if sharedCache != "" {
		os.RemoveAll(sharedCache)
	}
	os.Exit(code)
}

var (
	cacheOnce   sync.Once
	sharedCache string
)

// wasmCache is one compilation cache for every daemon the tests start, so
// the pipes compile once per test binary.
func wasmCache(t testing.TB) string {
	cacheOnce.Do(func() {
		sharedCache, _ = os.MkdirTemp("", "canopyd-wasm-cache-")
	})
	if sharedCache == "" {
		t.Fatal("cannot create a WASM cache folder")
	}
	return sharedCache
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// repoRoot is the module root (two levels up from this package).
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// canopyd builds the daemon once per test binary (CANOPYD_BIN names a
// prebuilt one instead).
func canopyd(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CANOPYD_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "canopyd-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "canopyd")
		cmd := exec.Command("go", "build", "-o", binPath, "./daemon")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./daemon: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// daemon is a running canopyd.
type daemon struct {
	t    testing.TB
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startDaemon runs canopyd with the pipes of the repository, a shared WASM
// cache, no trend ticks during the test, and extra args.
// config is the YAML text of the config file ("" for none).
func startDaemon(t testing.TB, dataDir, cacheDir, config string, args ...string) *daemon {
	t.Helper()
	addr := testenv.FreePort(t)
	root := repoRoot(t)
	confPath := filepath.Join(dataDir, "canopyd.yaml")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"-listen", addr, "-data", dataDir, "-pipes", filepath.Join(root, "pipes-wasm"),
		"-pipes.cache", cacheDir, "-config", confPath, "-trend.interval", "1h", "-default-source=false"}, args...)
	cmd := exec.Command(canopyd(t), all...)
	d := &daemon{t: t, cmd: cmd, url: "http://" + addr, logs: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	cmd.Stdout = lockedWriter{d.mu, d.logs}
	cmd.Stderr = lockedWriter{d.mu, d.logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() { d.kill() })
	deadline := time.Now().Add(3 * time.Minute) // the first start compiles the pipes
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			t.Fatalf("canopyd exited early:\n%s", d.output())
		default:
		}
		if resp, err := http.Get(d.url + "/status"); err == nil {
			resp.Body.Close()
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("canopyd did not come up:\n%s", d.output())
	return nil
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// kill sends SIGKILL (kill -9) and waits for the process to go.
func (d *daemon) kill() {
	if d.cmd.Process != nil {
		d.cmd.Process.Kill()
		<-d.done
	}
}

// stop asks for a clean shutdown.
func (d *daemon) stop() {
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Errorf("canopyd did not stop on SIGINT")
		d.kill()
	}
}

func (d *daemon) getJSON(path string, v any) error {
	resp, err := http.Get(d.url + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// flat reads /get/KEY into a map.
func (d *daemon) flat(key string) map[string]any {
	d.t.Helper()
	var list []map[string]any
	if err := d.getJSON("/get/"+key, &list); err != nil {
		d.t.Fatal(err)
	}
	out := map[string]any{}
	for _, e := range list {
		for k, v := range e {
			out[k] = v
		}
	}
	return out
}

type ingestStatus struct {
	Ingest struct {
		Files []FileStatus `json:"files"`
		Lines uint64       `json:"lines"`
		Bad   uint64       `json:"bad_lines"`
	} `json:"ingest"`
	Pipes struct {
		Ready bool `json:"ready"`
	} `json:"pipes"`
}

func (d *daemon) status() (ingestStatus, error) {
	var st ingestStatus
	err := d.getJSON("/status", &st)
	return st, err
}

// waitCaughtUp waits until the file named path has been applied to size,
// timeout counted from when the pipes are loaded: lines wait for them, and
// a first start compiles them all, which takes minutes on a busy machine.
func (d *daemon) waitCaughtUp(path string, size int64, timeout time.Duration) {
	d.t.Helper()
	for loading := time.Now().Add(10 * time.Minute); time.Now().Before(loading); time.Sleep(50 * time.Millisecond) {
		if st, err := d.status(); err == nil && st.Pipes.Ready {
			break
		}
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st, err := d.status(); err == nil {
			for _, f := range st.Ingest.Files {
				if f.File == path && f.Offset == size {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("canopyd did not catch up with %s (%d bytes) in %v\n%s", path, size, timeout, tail(d.output(), 3000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// differingKeys returns the keys whose values differ between a and b,
// including the keys only one of them has.
func differingKeys(a, b map[string]any) []string {
	var out []string
	for k, va := range a {
		if vb, ok := b[k]; !ok || fmt.Sprint(va) != fmt.Sprint(vb) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func sortedDiff(a, b map[string]any, limit int) []string {
	var out []string
	for _, k := range differingKeys(a, b) {
		if va, ok := a[k]; ok {
			out = append(out, fmt.Sprintf("%s: %v vs %v", k, va, b[k]))
		} else {
			out = append(out, fmt.Sprintf("%s: missing vs %v", k, b[k]))
		}
	}
	sort.Strings(out)
	if len(out) > limit {
		out = append(out[:limit], fmt.Sprintf("… %d more", len(out)-limit))
	}
	return out
}
