package pipetest

import (
	"os"
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// TestdataRecords parses testdata/access.log with format.
func TestdataRecords(t testing.TB, format string) []pipeabi.Record {
	t.Helper()
	b, err := os.ReadFile("testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	return Lines(t, format, string(b))
}

// Golden checks a pipe against its hand-computed testdata/want.txt for
// testdata/access.log (parsed with format), both built natively and as the
// committed wasmFile: the two builds of one source must agree exactly.
func Golden(t *testing.T, p pipe.Pipe, wasmFile, format string) {
	t.Helper()
	b, err := os.ReadFile("testdata/want.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := string(b)
	t.Run("native", func(t *testing.T) {
		if got := Native(t, p, nil, TestdataRecords(t, format)).String(); got != want {
			t.Errorf("native build wrote\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("wasm", func(t *testing.T) {
		if got := WASM(t, wasmFile, nil, TestdataRecords(t, format)).String(); got != want {
			t.Errorf("%s wrote\n%s\nwant\n%s", wasmFile, got, want)
		}
	})
}
