package modules

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// The committed builtin.wasm must be what its C sources build to
// (pipes-src/mod-builtin-c/build.sh: fixed flags, no debug info, no paths
// or timestamps), so it is never stale and is committed again only when a
// source changed. Rebuild with `go tool -modfile=tools/go.mod task build:modules`.
func TestBuiltinWasmIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a WASM module")
	}
	testenv.NeedCommand(t, "clang-14", "clang-14")
	testenv.NeedCommand(t, "wasm-ld-14", "lld-14")
	testenv.InstallPackages(t, "wasi-libc", "libclang-rt-14-dev-wasm32")
	out := filepath.Join(t.TempDir(), "builtin.wasm")
	if b, err := exec.Command("sh", "../../pipes-src/mod-builtin-c/build.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	built, _ := os.ReadFile(out)
	committed, err := os.ReadFile(filepath.Join(builtinDir, "builtin.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, committed) {
		t.Errorf("pipes-wasm/modules/builtin.wasm (%d bytes) differs from a build of pipes-src/mod-builtin-c (%d bytes): run go tool -modfile=tools/go.mod task build:modules and commit it",
			len(committed), len(built))
	}
}
