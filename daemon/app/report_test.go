package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/report"
)

// TestReportJSON: `canopyd report --json` of a generated log, with the
// status and bytes pipes only (compiling all would dominate the test):
// the overview's counts are the generator's, the status panel adds up to
// the valid requests.
func TestReportJSON(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := loggen.Write(f, loggen.Config{Lines: 3000, Seed: 5, Format: "main", Bad: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	pipesDir := t.TempDir()
	for _, name := range []string{"status.wasm", "bytes.wasm"} {
		wasm, err := os.ReadFile(filepath.Join("..", "..", "pipes-wasm", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pipesDir, name), wasm, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "canopyd.yaml")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = runReport([]string{"--json", "--data", t.TempDir(), "--config", cfg,
		"--pipes.builtin=false", "--pipes", pipesDir, "--progress", "none", logPath}, &out)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var r report.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report --json: %v\n%s", err, out.Bytes())
	}
	o := r.Overview
	var status float64
	for _, p := range r.Panels {
		if p.ID == "status" {
			for _, row := range p.Rows {
				status += float64(row.Values[0])
			}
		}
	}
	got := []float64{float64(o.TotalRequests), float64(o.FailedRequests), float64(o.ValidRequests), status}
	want := []float64{float64(st.Lines), float64(st.Bad), float64(st.Lines - st.Bad), float64(st.Lines - st.Bad)}
	for i, name := range []string{"total", "failed", "valid", "status sum"} {
		if got[i] != want[i] {
			t.Errorf("%s = %v, want %v", name, got[i], want[i])
		}
	}
	if o.Bandwidth <= 0 || o.First == "" || o.LogSize <= 0 {
		t.Errorf("overview lacks bandwidth, time span or log size: %+v", o)
	}
}

func TestReportArgs(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no files", nil, "usage: canopyd report"},
		{"two formats", []string{"--json", "--text", logPath}, "exclude each other"},
		{"html and json", []string{"--json", "--html", filepath.Join(dir, "r.html"), logPath}, "exclude each other"},
		{"missing file", []string{"--json", filepath.Join(dir, "nope.log")}, "cannot report on"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := runReport(append([]string{"--config", filepath.Join(dir, "canopyd.yaml")}, tc.args...), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("runReport(%q) = %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
}
