package main

import (
	"os"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/bytes.wasm must
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
	res := pipetest.Native(t, &bytesPipe{}, nil, pipetest.Lines(t, "main", lines(t)))
	if got, w := res.String(), want(t); got != w {
		t.Errorf("native bytes wrote\n%s\nwant\n%s", got, w)
	}
}

func TestWASM(t *testing.T) {
	res := pipetest.WASM(t, "../../pipes-wasm/bytes.wasm", nil, pipetest.Lines(t, "main", lines(t)))
	if got, w := res.String(), want(t); got != w {
		t.Errorf("pipes-wasm/bytes.wasm wrote\n%s\nwant\n%s", got, w)
	}
}

// BenchmarkPipe measures this pipe natively and as WASM in the same run on
// generated lines; ns/line excludes parsing (done once, up front).
func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &bytesPipe{}, "../../pipes-wasm/bytes.wasm")
}
