package main

import (
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/status.wasm must
// both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &statusPipe{}, "../../pipes-wasm/status.wasm", "main")
}

// BenchmarkPipe measures this pipe natively and as WASM in the same run on
// generated lines; ns/line excludes parsing (done once, up front).
func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &statusPipe{}, "../../pipes-wasm/status.wasm")
}

// TestCap checks the cap on error paths: with max_paths=1 only /a (the
// first 5xx path) keeps its key.
func TestCap(t *testing.T) {
	cfg := map[string]string{"max_paths": "1"}
	res := pipetest.Native(t, &statusPipe{}, cfg, pipetest.TestdataRecords(t, "main"))
	for k, w := range map[string]float64{"errors,502,/a": 1, "errors,500,_other": 1, "errors,503,_other": 2, "errors,5xx": 4} {
		if got, ok := res.Value(k); !ok || got != w {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, w)
		}
	}
	if _, ok := res.Value("errors,503,/c"); ok {
		t.Errorf("errors,503,/c written past the cap")
	}
}
