package app

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestPipeTest runs `canopyd pipe test` on a built-in pipe and its
// hand-computed expectations.
func TestPipeTest(t *testing.T) {
	in, err := os.Open("../../pipes-src/status/testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	want, err := os.ReadFile("../../pipes-src/status/testdata/want.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := pipeTest("../../pipes-wasm/status.wasm", "main", nil, false, 4, in, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if out.String() != string(want) {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if !strings.Contains(errOut.String(), "14 lines, 0 bad") {
		t.Errorf("summary: %s", errOut.String())
	}
}
