package modules

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// The committed builtin.wasm must be what its sources build to (Go builds
// with -trimpath and no build ID are reproducible), so it is never stale
// and is committed again only when a source changed. Rebuild with
// `go tool -modfile=tools/go.mod task build:modules`.
func TestBuiltinWasmIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a WASM module")
	}
	out := filepath.Join(t.TempDir(), "builtin.wasm")
	if err := pipetest.BuildWASM("../../pipes-src/mod-builtin", out); err != nil {
		t.Fatal(err)
	}
	built, _ := os.ReadFile(out)
	committed, err := os.ReadFile(filepath.Join(builtinDir, "builtin.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, committed) {
		t.Errorf("pipes-wasm/modules/builtin.wasm (%d bytes) differs from a build of pipes-src/mod-builtin (%d bytes): run go tool -modfile=tools/go.mod task build:modules and commit it",
			len(committed), len(built))
	}
}
