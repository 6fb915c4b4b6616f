package main

import (
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/os.wasm must
// both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &osPipe{}, "../../pipes-wasm/os.wasm", "main")
}

// BenchmarkPipe measures this pipe natively and as WASM in the same run on
// generated lines; ns/line excludes parsing (done once, up front).
func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &osPipe{}, "../../pipes-wasm/os.wasm")
}
