package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testTree loads testdata/tree.json, the flat tree `canopyd replay
// --print` wrote for testdata/access.log (200 lines of `canopyd gen -n 200
// -seed 3 -format main -bad 0.02`, each behind a $host), with the keys the
// report does not read left out and geo keys added by hand (the fixture
// has no geo database).
func testTree(t *testing.T) *tree.Tree {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tree.json"))
	if err != nil {
		t.Fatal(err)
	}
	var flat []map[string]any
	if err := json.Unmarshal(b, &flat); err != nil {
		t.Fatalf("testdata/tree.json: %v", err)
	}
	tr := tree.New()
	var deltas []tree.Delta
	for _, m := range flat {
		for k, v := range m {
			path, err := key.Split(k)
			if err != nil {
				t.Fatal(err)
			}
			switch v := v.(type) {
			case float64:
				deltas = append(deltas, tree.Delta{Path: path, Value: v})
			case string:
				deltas = append(deltas, tree.Delta{Path: path, Marker: v, IsMarker: true})
			}
		}
	}
	if _, err := tr.Apply(deltas); err != nil {
		t.Fatal(err)
	}
	return tr
}

func testInput() Input {
	// The replay's clock is in UTC (sdk/logformat's Record.Time).
	zone := time.UTC
	return Input{
		Files: []File{{Name: "access.log", Size: 49399}},
		Lines: 197, Bad: 5, Skipped: 3,
		First: time.Date(2026, 1, 4, 16, 21, 36, 0, zone),
		Last:  time.Date(2026, 1, 7, 15, 38, 24, 0, zone),
	}
}

// TestGolden writes the fixture's report in each format and compares it
// with testdata/report.*; -update rewrites them.
func TestGolden(t *testing.T) {
	r := Build(testTree(t), testInput())
	tests := []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"report.json", func(b *bytes.Buffer) error { return WriteJSON(b, r) }},
		{"report.txt", func(b *bytes.Buffer) error { return WriteText(b, r, TextOptions{Top: 10}) }},
		{"report.html", func(b *bytes.Buffer) error {
			return WriteHTML(b, r, HTMLOptions{Generated: time.Date(2026, 1, 8, 9, 0, 0, 0, time.UTC), Top: 10})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs from the golden file; got:\n%s", tc.file, b.Bytes())
			}
		})
	}
}
