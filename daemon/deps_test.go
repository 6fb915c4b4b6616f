package main

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestBinariesLinkNoTestCode: canopyd and canopy-agent (as go build ./daemon
// and as task package builds them) link neither the testing package nor
// canopy's test helpers (RATIONALE.md, VictoriaMetrics).
func TestBinariesLinkNoTestCode(t *testing.T) {
	const canopy = "github.com/canopy-dev/canopy/"
	for _, pkg := range []string{".", "../agent", "../cmd/canopyd", "../cmd/canopy-agent"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			name := path.Base(dep)
			helper := strings.HasPrefix(dep, canopy) &&
				(strings.HasPrefix(dep, canopy+"bench") || strings.HasSuffix(name, "test") || name == "testenv")
			if dep == "testing" || helper {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
