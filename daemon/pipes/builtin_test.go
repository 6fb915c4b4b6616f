package pipes

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// TestBuiltins: built-ins run without a folder; a folder file of the same
// name replaces one (and removing it brings the built-in back, live);
// pipes.disable turns one off; Status says where each comes from.
func TestBuiltins(t *testing.T) {
	bin := t.TempDir()
	for _, v := range []string{"1", "2"} {
		if err := pipetest.BuildWASM("testdata/counter", filepath.Join(bin, "counter"+v+".wasm"), "-X main.version="+v); err != nil {
			t.Fatal(err)
		}
	}
	v1, err := os.ReadFile(filepath.Join(bin, "counter1.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	builtins := fstest.MapFS{"counter.wasm": {Data: v1}, "other.wasm": {Data: v1}}
	eng := pipetest.Engine(t)
	origin := func(m *Manager) map[string]string {
		out := map[string]string{}
		for _, p := range m.Status().Pipes {
			switch {
			case p.Disabled:
				out[p.File] = "disabled"
			case p.Loaded:
				out[p.File] = p.Origin + " v" + p.Version
			default:
				out[p.File] = "not loaded: " + p.LoadError
			}
		}
		return out
	}
	for _, c := range []struct {
		name    string
		folder  bool // counter2.wasm as counter.wasm in the folder
		disable []string
		want    map[string]string
	}{
		{"builtins only", false, nil, map[string]string{"counter.wasm": "builtin v1", "other.wasm": "builtin v1"}},
		{"folder overrides", true, nil, map[string]string{"counter.wasm": "DIR/counter.wasm v2", "other.wasm": "builtin v1"}},
		{"disabled", false, []string{"other"}, map[string]string{"counter.wasm": "builtin v1", "other.wasm": "disabled"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.folder {
				copyFile(t, filepath.Join(bin, "counter2.wasm"), filepath.Join(dir, "counter.wasm"))
			}
			m, err := New(Options{Dir: dir, Builtins: builtins, Tree: tree.New(), Engine: eng,
				Config: config.PipesConfig{Disable: c.disable}, Log: log.New(io.Discard, "", 0)})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := origin(m)
			for k, v := range c.want {
				if want := replaceDir(v, dir); got[k] != want {
					t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], want, got)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			if !c.folder {
				return
			}
			// Removing the override brings the built-in back while running.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m.Watch(ctx)
			if err := os.Remove(filepath.Join(dir, "counter.wasm")); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for origin(m)["counter.wasm"] != "builtin v1" {
				if time.Now().After(deadline) {
					t.Fatalf("built-in not back after removing the override: %v", origin(m))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func replaceDir(s, dir string) string {
	if len(s) > 3 && s[:4] == "DIR/" {
		return filepath.Join(dir, s[4:])
	}
	return s
}
