package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
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

func TestParseSlow(t *testing.T) {
	tests := []struct {
		marker string
		ok     bool
		name   string
		values string
	}{
		{"2.600s GET /a 200 up=2.598", true, "GET /a", "[2.6 200 2.598]"},
		{"0.004s GET /static/x.css 200 up=-", true, "GET /static/x.css", "[0.004 200 NaN]"},
		{"1.000s POST /a b 502 up=0.999", true, "POST /a b", "[1 502 0.999]"},
		{"-", false, "", ""},
		{"", false, "", ""},
		{"xs GET / 200 up=1", false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.marker, func(t *testing.T) {
			r, ok := parseSlow(tc.marker)
			got := fmt.Sprintf("%v %q %v", ok, r.Name, r.Values)
			want := fmt.Sprintf("%v %q %s", tc.ok, tc.name, tc.values)
			if !tc.ok {
				want = fmt.Sprintf("%v %q %v", false, "", []Num(nil))
			}
			if got != want {
				t.Errorf("parseSlow(%q) = %s, want %s", tc.marker, got, want)
			}
		})
	}
}

// FuzzParseSlow: any marker gives a row with one value per column of the
// slowest panel, or none.
func FuzzParseSlow(f *testing.F) {
	for _, s := range []string{"2.600s GET /a 200 up=2.598", "0.004s GET / 200 up=-", "-", "1s a b c d e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		r, ok := parseSlow(m)
		if ok && len(r.Values) != 3 {
			t.Errorf("parseSlow(%q) gave %d values", m, len(r.Values))
		}
	})
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{1234, "count", "1234"},
		{2.5, "count", "2.50"},
		{12.345, "percent", "12.35%"},
		{512, "bytes", "512 B"},
		{3 << 20, "bytes", "3.0 MiB"},
		{0.0042, "seconds", "4.20 ms"},
		{0.25, "seconds", "250.0 ms"},
		{2.5, "seconds", "2.500 s"},
		{90, "seconds", "90.0 s"},
		{404, "code", "404"},
		{math.NaN(), "seconds", "-"},
	}
	for _, tc := range tests {
		if got := FormatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("FormatValue(%v, %s) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

// TestHTMLEscapes: names come from the log, so a path or referrer that
// is markup must reach the page as text, in tables and in the SVG.
func TestHTMLEscapes(t *testing.T) {
	tr := tree.New()
	evil := `/<script>alert(1)</script>`
	_, err := tr.Apply([]tree.Delta{
		{Path: []string{"req", "page"}, Value: 3},
		{Path: []string{"req", "page", evil}, Value: 2},
		{Path: []string{"req", "page", `/"><img src=x onerror=alert(1)>`}, Value: 1},
		{Path: []string{"time", "hour", "10"}, Value: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, Build(tr, Input{Lines: 3}), HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>alert", "<img src=x"} {
		if bytes.Contains(b.Bytes(), []byte(bad)) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	if !bytes.Contains(b.Bytes(), []byte("&lt;script&gt;alert(1)&lt;/script&gt;")) {
		t.Errorf("the escaped path is missing from the page")
	}
}
