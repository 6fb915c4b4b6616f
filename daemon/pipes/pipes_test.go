package pipes

import (
	"bufio"
	"encoding/json"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testTimeout is the per-call cap in these tests (an infinite loop costs
// this much per failure).
const testTimeout = 500 * time.Millisecond

var builtins = []string{"browser", "bytes", "os", "reqtime", "status", "upstream", "url"}

// builtinDir copies the committed built-in pipes into a fresh folder.
func builtinDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range builtins {
		copyFile(t, filepath.Join("..", "..", "pipes-wasm", b+".wasm"), filepath.Join(dir, b+".wasm"))
	}
	return dir
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write then rename, as a deploy would, so a scan never sees half a file.
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

func newManager(t testing.TB, dir string, cfg config.PipesConfig, tr *tree.Tree) *Manager {
	t.Helper()
	cfg.Dir = dir
	m, err := New(Options{Dir: dir, Tree: tr, Engine: pipetest.Engine(t), Config: cfg,
		Limits: host.Limits{CallTimeout: testTimeout}, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// readWant reads a pipe's hand-computed "key value" file.
func readWant(t *testing.T, path string) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		want[k] = x
	}
	return want
}

// treeUnder returns every number in tr under the first segments of want's
// keys.
func treeUnder(t *testing.T, tr *tree.Tree, want map[string]float64) map[string]float64 {
	t.Helper()
	roots := map[string]bool{}
	for k := range want {
		r, _, _ := strings.Cut(k, ",")
		roots[r] = true
	}
	got := map[string]float64{}
	for r := range roots {
		p, err := tree.ParsePattern(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tr.Get(p) {
			if !e.IsMarker {
				got[e.Key] = e.Value
			}
		}
	}
	return got
}

func compare(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-w) > 1e-6*math.Max(1, math.Abs(w)) {
			t.Errorf("%s: %s = %v (present %v), want %v", what, k, g, ok, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s = %v", what, k, g)
		}
	}
}

func push(t *testing.T, url, body string) api.PushResult {
	t.Helper()
	resp, err := http.Post(url+"/push", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push: %s: %s", resp.Status, b)
	}
	var r api.PushResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPushBuiltins pushes each built-in pipe's known access log through
// /push into a daemon running all seven pipes and checks the tree against
// the pipe's hand-computed counts.
func TestPushBuiltins(t *testing.T) {
	dir := builtinDir(t)
	for _, b := range builtins {
		t.Run(b, func(t *testing.T) {
			tr := tree.New()
			m := newManager(t, dir, config.PipesConfig{}, tr)
			srv := httptest.NewServer(api.New(api.Options{Tree: tr, AccessLog: m.PushHook(nil)}))
			defer srv.Close()
			logText, err := os.ReadFile(filepath.Join("..", "..", "pipes-src", b, "testdata", "access.log"))
			if err != nil {
				t.Fatal(err)
			}
			r := push(t, srv.URL, string(logText))
			if r.BadLines != 0 || r.Lines == 0 {
				t.Fatalf("push result %+v", r)
			}
			want := readWant(t, filepath.Join("..", "..", "pipes-src", b, "testdata", "want.txt"))
			compare(t, b, treeUnder(t, tr, want), want)
			st := m.Status()
			for _, p := range st.Pipes {
				if !p.Loaded || p.Failures != 0 {
					t.Errorf("pipe status %+v", p)
				}
			}
		})
	}
}
