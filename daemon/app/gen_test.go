package app

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
)

// TestGen checks `canopyd gen` writes what loggen writes for the same
// flags, byte for byte, and refuses bad flags.
func TestGen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "access.log")
	err := cmdGen([]string{"-n", "2000", "-seed", "3", "-format", "main", "-bad", "0.01",
		"-start", "2026-02-01T00:00:00+08:00", "-span", "1h", "-o", out})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	start, _ := time.Parse(time.RFC3339, "2026-02-01T00:00:00+08:00")
	if _, err := loggen.Write(&want, loggen.Config{Lines: 2000, Seed: 3, Format: "main", Bad: 0.01, Start: start, Span: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("canopyd gen wrote %d bytes that differ from loggen's %d", len(got), want.Len())
	}
	if n := bytes.Count(got, []byte("\n")); n != 2000 {
		t.Errorf("%d lines, want 2000", n)
	}
	for _, args := range [][]string{
		{"-format", "xml"},
		{"-bad", "2"},
		{"-start", "yesterday"},
		{"extra"},
	} {
		if err := cmdGen(append(args, "-o", out)); err == nil {
			t.Errorf("canopyd gen %q succeeded", args)
		}
	}
}
