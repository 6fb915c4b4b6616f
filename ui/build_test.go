package ui

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestBuildIsFresh rebuilds the UI from src/ and fails when the result
// differs from the committed dist/: someone changed a source and forgot
// `go tool -modfile=tools/go.mod task ui:build`, or the build stopped being reproducible.
func TestBuildIsFresh(t *testing.T) {
	npm := testenv.NeedCommand(t, "npm", "npm")
	node := testenv.NeedCommand(t, "node", "nodejs")
	work := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "build.mjs"} {
		copyFile(t, f, filepath.Join(work, f))
	}
	if err := os.CopyFS(filepath.Join(work, "src"), os.DirFS("src")); err != nil {
		t.Fatalf("cannot copy src: %v", err)
	}
	if abs, err := filepath.Abs("node_modules"); err == nil && isDir(abs) {
		if err := os.Symlink(abs, filepath.Join(work, "node_modules")); err != nil {
			t.Fatal(err)
		}
	} else {
		// A clean clone without `npm ci` (CI runs it in .ci/deps.sh).
		run(t, work, npm, "ci", "--no-audit", "--no-fund")
	}
	run(t, work, node, "build.mjs", "fresh")

	fresh := os.DirFS(filepath.Join(work, "fresh"))
	committed := os.DirFS("dist")
	seen := map[string]bool{}
	fs.WalkDir(fresh, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		seen[p] = true
		a, _ := fs.ReadFile(fresh, p)
		b, err := fs.ReadFile(committed, p)
		switch {
		case err != nil:
			t.Errorf("dist/%s is missing: run `go tool -modfile=tools/go.mod task ui:build` and commit ui/dist", p)
		case !bytes.Equal(a, b):
			t.Errorf("dist/%s differs from a fresh build (%d vs %d bytes): run `go tool -modfile=tools/go.mod task ui:build` and commit ui/dist", p, len(b), len(a))
		}
		return nil
	})
	fs.WalkDir(committed, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !seen[p] {
			t.Errorf("dist/%s is not produced by the build any more: remove it", p)
		}
		return err
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
