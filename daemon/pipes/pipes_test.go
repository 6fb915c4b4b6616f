package pipes

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/push"
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

func postLines(t *testing.T, url, body string) push.Result {
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
	var r push.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
