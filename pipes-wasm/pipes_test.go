// Package pipeswasm holds the built-in pipes' committed .wasm files and the
// checks that keep them honest: every pipes-src folder follows the layout,
// and every committed .wasm is exactly what its source builds to today.
package pipeswasm

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// builtin are the seven log pipes of the issue; the folder list must contain
// them (more may be added).
var builtin = []string{"browser", "os", "status", "reqtime", "upstream", "bytes", "url"}

// pipeFolders returns the log-pipe folders of pipes-src. Folders named
// mod-* are the agent's collector modules: they are built into
// pipes-wasm/modules/builtin.wasm by their own task and checked by their
// own tests; internal/ holds code the pipes share.
func pipeFolders(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("../pipes-src")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "mod-") && e.Name() != "internal" {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestLayout(t *testing.T) {
	names := pipeFolders(t)
	for _, b := range builtin {
		if !slices.Contains(names, b) {
			t.Errorf("built-in pipe %q has no folder pipes-src/%s", b, b)
		}
	}
	taskfile, err := os.ReadFile("../Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	// The `pipes:` task loops over a `for: [a, b, …]` list.
	var taskPipes []string
	if _, rest, ok := strings.Cut(string(taskfile), "\n  pipes:\n"); ok {
		if _, list, ok := strings.Cut(rest, "for: ["); ok {
			list, _, _ = strings.Cut(list, "]")
			for _, s := range strings.Split(list, ",") {
				taskPipes = append(taskPipes, strings.TrimSpace(s))
			}
		}
	}
	for _, n := range names {
		dir := filepath.Join("../pipes-src", n)
		main, err := os.ReadFile(filepath.Join(dir, "main.go"))
		if err != nil {
			t.Errorf("pipes-src/%s: no main.go: %v", n, err)
		} else {
			src := string(main)
			for _, want := range []string{"package main", "pipe.Register(", "pipe.Main()", `Name: "` + n + `"`} {
				if !strings.Contains(src, want) {
					t.Errorf("pipes-src/%s/main.go lacks %q (the SDK pattern: register in init, pipe.Main in main, manifest named after the folder)", n, want)
				}
			}
		}
		readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil {
			t.Errorf("pipes-src/%s: no README.md: %v", n, err)
		} else if !bytes.Contains(readme, []byte("## What it writes")) || !bytes.Contains(readme, []byte("## Example")) {
			t.Errorf("pipes-src/%s/README.md needs the sections \"What it writes\" and \"Example\"", n)
		}
		tests, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		if len(tests) == 0 {
			t.Errorf("pipes-src/%s has no tests", n)
		}
		td, err := os.ReadDir(filepath.Join(dir, "testdata"))
		if err != nil || len(td) == 0 {
			t.Errorf("pipes-src/%s has no testdata/ files", n)
		}
		if _, err := os.Stat(n + ".wasm"); err != nil {
			t.Errorf("pipes-src/%s is not built: no pipes-wasm/%s.wasm (run go tool -modfile=tools/go.mod task pipes)", n, n)
		}
		if !slices.Contains(taskPipes, n) {
			t.Errorf("the pipes task in Taskfile.yml does not build %s (it builds %q)", n, taskPipes)
		}
	}
	wasms, _ := filepath.Glob("*.wasm")
	for _, w := range wasms {
		if n := strings.TrimSuffix(w, ".wasm"); !slices.Contains(names, n) {
			t.Errorf("pipes-wasm/%s has no source folder pipes-src/%s", w, n)
		}
	}
}

// TestNoDrift rebuilds every pipe and compares it with the committed file,
// so a source (or SDK) change cannot ship with a stale .wasm.
func TestNoDrift(t *testing.T) {
	names := pipeFolders(t)
	dir := t.TempDir()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2) // CI has two cores
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = pipetest.BuildWASM(filepath.Join("../pipes-src", n), filepath.Join(dir, n+".wasm"))
		}()
	}
	wg.Wait()
	for i, n := range names {
		if errs[i] != nil {
			t.Errorf("%s: %v", n, errs[i])
			continue
		}
		fresh, err := os.ReadFile(filepath.Join(dir, n+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(n + ".wasm")
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("pipes-wasm/%s.wasm (%d bytes) differs from a fresh build of pipes-src/%s (%d bytes): run go tool -modfile=tools/go.mod task pipes and commit it", n, len(committed), n, len(fresh))
		}
	}
}
