package pipeswasm

import (
	"bufio"
	"encoding/json"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// TestPushAllBuiltins pushes one known access log (plus a malformed line)
// through /push's accesslog form field into a daemon running all seven
// committed pipes at once, and checks the whole tree against the
// hand-computed testdata/want.txt of every pipe: nothing missing, nothing
// extra, the bad line counted and not fatal.
func TestPushAllBuiltins(t *testing.T) {
	dir := t.TempDir()
	for _, b := range builtin {
		data, err := os.ReadFile(b + ".wasm")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, b+".wasm"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr := tree.New()
	m, err := pipes.New(pipes.Options{Dir: dir, Tree: tr, Engine: pipetest.Engine(t), Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	srv := httptest.NewServer(api.New(api.Options{Tree: tr, AccessLog: m.PushHook([]string{"main"})}))
	defer srv.Close()

	// Every pipe's testdata/access.log is the same 14 lines.
	logText, err := os.ReadFile("../pipes-src/status/testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	body := string(logText) + "this line is not in the main format\n"
	resp, err := http.PostForm(srv.URL+"/push", url.Values{"accesslog": {body}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push: %s: %s", resp.Status, b)
	}
	var res push.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("push answer %s: %v", b, err)
	}
	if res.Lines != 15 || res.BadLines != 1 {
		t.Errorf("push answer %+v, want 15 lines of which 1 bad", res)
	}

	want := map[string]float64{}
	for _, p := range builtin {
		for k, v := range readWant(t, filepath.Join("../pipes-src", p, "testdata", "want.txt")) {
			want[k] = v
		}
	}
	got := map[string]float64{}
	for _, root := range []string{"br", "os", "requests", "status", "errors", "reqtime", "upstream", "bytes", "url"} {
		pat, err := key.Parse(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tr.Get(pat) {
			if !e.IsMarker {
				got[e.Key] = e.Value
			}
		}
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-w) > 1e-6*math.Max(1, math.Abs(w)) {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s = %v", k, g)
		}
	}
	if len(want) < 70 {
		t.Errorf("only %d expected keys: testdata/want.txt files missing?", len(want))
	}
}

// readWant reads a hand-computed "key value" file.
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
