package pipeabi

import (
	"os"
	"strconv"
	"testing"
)

// TestReadmeVersion: the spec's title names the version the code speaks.
func TestReadmeVersion(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := "# canopy pipe ABI, version " + strconv.Itoa(Version) + "\n"
	if got := string(b[:min(len(b), len(want))]); got != want {
		t.Fatalf("README.md starts %q, want %q", got, want)
	}
}
