package main

import (
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/url.wasm must
// both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &urlPipe{}, "../../pipes-wasm/url.wasm", "main")
}

// BenchmarkPipe measures this pipe natively and as WASM in the same run on
// generated lines; ns/line excludes parsing (done once, up front).
func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &urlPipe{}, "../../pipes-wasm/url.wasm")
}

// TestCap checks the cardinality cap: with max_paths=3 the first three
// paths keep their keys and the other 5 hits go to url,_other (counted by
// hand from testdata/access.log).
func TestCap(t *testing.T) {
	want := "url,- 1\nurl,/a 5\nurl,/index.html 2\nurl,/robots.txt 1\nurl,_other 5\n"
	cfg := map[string]string{"max_paths": "3"}
	recs := pipetest.TestdataRecords(t, "main")
	if got := pipetest.Native(t, &urlPipe{}, cfg, recs).String(); got != want {
		t.Errorf("native:\n%s\nwant\n%s", got, want)
	}
	if got := pipetest.WASM(t, "../../pipes-wasm/url.wasm", cfg, recs).String(); got != want {
		t.Errorf("wasm:\n%s\nwant\n%s", got, want)
	}
}
