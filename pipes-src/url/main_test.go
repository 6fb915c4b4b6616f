package main

import (
	"os"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/url.wasm must
// both produce exactly it.

func want(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/want.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lines(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNative(t *testing.T) {
	res := pipetest.Native(t, &urlPipe{}, nil, pipetest.Lines(t, "main", lines(t)))
	if got, w := res.String(), want(t); got != w {
		t.Errorf("native url wrote\n%s\nwant\n%s", got, w)
	}
}

func TestWASM(t *testing.T) {
	res := pipetest.WASM(t, "../../pipes-wasm/url.wasm", nil, pipetest.Lines(t, "main", lines(t)))
	if got, w := res.String(), want(t); got != w {
		t.Errorf("pipes-wasm/url.wasm wrote\n%s\nwant\n%s", got, w)
	}
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
	recs := pipetest.Lines(t, "main", lines(t))
	if got := pipetest.Native(t, &urlPipe{}, cfg, recs).String(); got != want {
		t.Errorf("native:\n%s\nwant\n%s", got, want)
	}
	if got := pipetest.WASM(t, "../../pipes-wasm/url.wasm", cfg, recs).String(); got != want {
		t.Errorf("wasm:\n%s\nwant\n%s", got, want)
	}
}
