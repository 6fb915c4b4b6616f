package pipes

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// buildBad builds the adversarial pipes of sdk/host/testdata (two at a
// time) into dir; names are the modes.
func buildBad(t *testing.T, dir string, modes map[string]string) {
	t.Helper()
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	errs := make(chan error, len(modes))
	for mode, pkg := range modes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- pipetest.BuildWASM(filepath.Join("..", "..", "sdk", "host", "testdata", pkg),
				filepath.Join(dir, mode+".wasm"), "-X main.mode="+mode)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// allLogs joins every built-in pipe's test log plus a 599 line (which the
// proctrap pipe dies on).
func allLogs(t *testing.T) string {
	var b strings.Builder
	for _, p := range builtins {
		data, err := os.ReadFile(filepath.Join("..", "..", "pipes-src", p, "testdata", "access.log"))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	b.WriteString(`198.51.100.9 - - [05/Jan/2026:10:00:00 +0800] "GET /odd HTTP/1.1" 599 0 "-" "curl/8.5.0" 0.001 0.001` + "\n")
	return b.String()
}

func entries(tr *tree.Tree) map[string]tree.Entry {
	p, _ := key.Parse("**")
	out := map[string]tree.Entry{}
	for _, e := range tr.Get(p) {
		out[e.Key] = e
	}
	return out
}

func getStatus(t *testing.T, url string) Status {
	t.Helper()
	resp, err := http.Get(url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Pipes Status `json:"pipes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Pipes
}

// TestAdversarial runs each misbehaving pipe beside the seven built-ins in
// a serving daemon: pushes keep succeeding, the built-ins' counts stay
// exact, and the bad pipe ends up refused or quarantined in /status.
func TestAdversarial(t *testing.T) {
	badDir := t.TempDir()
	modes := map[string]string{}
	for _, m := range []string{"loop", "membomb", "inittrap", "proctrap", "panic", "outside"} {
		modes[m] = "badpipe"
	}
	for _, m := range []string{"garbage", "bigresult", "bigalloc", "version", "badmanifest"} {
		modes[m] = "rawpipe"
	}
	buildBad(t, badDir, modes)
	os.WriteFile(filepath.Join(badDir, "notwasm.wasm"), []byte("not WebAssembly\n"), 0o644)

	dir := builtinDir(t)
	tr := tree.New()
	m := newManager(t, dir, config.PipesConfig{}, tr)
	srv := httptest.NewServer(api.New(api.Options{Tree: tr, AccessLog: m.PushHook(nil),
		Status: func() map[string]any { return map[string]any{"pipes": m.Status()} }}))
	defer srv.Close()
	logs := allLogs(t)
	lines := strings.Count(logs, "\n")

	// The reference: one push with only good pipes.
	if r := postLines(t, srv.URL, logs); r.Lines != lines || r.BadLines != 0 {
		t.Fatalf("reference push: %+v", r)
	}
	ref := entries(tr)

	const pushes = 6
	for _, bad := range []string{"notwasm", "version", "badmanifest", "inittrap", "loop", "membomb",
		"proctrap", "panic", "outside", "garbage", "bigresult", "bigalloc"} {
		t.Run(bad, func(t *testing.T) {
			file := filepath.Join(dir, bad+".wasm")
			copyFile(t, filepath.Join(badDir, bad+".wasm"), file)
			defer func() {
				os.Remove(file)
				if err := m.Scan(t.Context()); err != nil {
					t.Fatal(err)
				}
			}()
			if err := m.Scan(t.Context()); err != nil {
				t.Fatal(err)
			}
			before := entries(tr)
			for range pushes {
				if r := postLines(t, srv.URL, logs); r.Lines != lines {
					t.Fatalf("push: %+v", r)
				}
			}
			after := entries(tr)
			for k, e := range ref {
				b, a := before[k], after[k]
				var got, want float64
				switch e.Action {
				case tree.ActionAdd:
					got, want = a.Value-b.Value, pushes*e.Value
				default: // averages of identical pushes, max, min, last
					got, want = a.Value, e.Value
				}
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("%s: got %v, want %v", k, got, want)
				}
			}
			for k := range after {
				if _, ok := ref[k]; !ok && !strings.HasPrefix(k, "bad,") && !strings.HasPrefix(k, "raw") {
					t.Errorf("unexpected key %s", k)
				}
			}
			var found bool
			for _, p := range getStatus(t, srv.URL).Pipes {
				if p.File != bad+".wasm" {
					if p.Failures != 0 || !p.Loaded {
						t.Errorf("good pipe %s: %+v", p.File, p)
					}
					continue
				}
				found = true
				if !p.Quarantined || p.QuarantineReason == "" {
					t.Errorf("bad pipe status %+v", p)
				}
				t.Logf("loaded=%v quarantined: %s", p.Loaded, p.QuarantineReason)
			}
			if !found {
				t.Errorf("%s missing from /status", bad)
			}
		})
	}
}
