package modules

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// TestResolveBuiltins: a module path names a folder file when there is
// one (it replaces a built-in of the same name), else the built-in.
func TestResolveBuiltins(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine.wasm"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "over.wasm"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := New(Options{Dir: dir, Builtins: fstest.MapFS{"builtin.wasm": {}, "over.wasm": {}}})
	for _, c := range []struct{ path, want string }{
		{"builtin.wasm", "builtin:builtin.wasm"},
		{"over.wasm", filepath.Join(dir, "over.wasm")},
		{"mine.wasm", filepath.Join(dir, "mine.wasm")},
		{"missing.wasm", filepath.Join(dir, "missing.wasm")},
		{"/abs/x.wasm", "/abs/x.wasm"},
	} {
		if got := r.Resolve(c.path); got != c.want {
			t.Errorf("Resolve(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}
