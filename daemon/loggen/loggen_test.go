package loggen

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/logformat"
)

func TestDeterministic(t *testing.T) {
	sum := func(cfg Config) string {
		var b bytes.Buffer
		if _, err := Write(&b, cfg); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", sha256.Sum256(b.Bytes()))
	}
	cfg := Config{Lines: 5000, Seed: 7, Format: "main", Bad: 0.01}
	if a, b := sum(cfg), sum(cfg); a != b {
		t.Errorf("same config, different logs: %s vs %s", a, b)
	}
	other := cfg
	other.Seed = 8
	if sum(cfg) == sum(other) {
		t.Errorf("seeds 7 and 8 gave the same log")
	}
}

// TestParsesBack checks every good line parses with the matching preset,
// every bad line is rejected, and the times stay within the span.
func TestParsesBack(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, format := range []string{"combined", "main", "json", "vcombined"} {
		t.Run(format, func(t *testing.T) {
			cfg := Config{Lines: 20000, Seed: 1, Format: format, Bad: 0.02, Start: start, Span: 72 * time.Hour}
			lines, st, err := Lines(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Lines != cfg.Lines || len(lines) != cfg.Lines {
				t.Fatalf("got %d lines (stats %d), want %d", len(lines), st.Lines, cfg.Lines)
			}
			if st.Bad < 300 || st.Bad > 500 {
				t.Errorf("%d bad lines, want about 2%% of %d", st.Bad, cfg.Lines)
			}
			spec := map[string]string{"json": JSONFormat, "vcombined": VCombinedFormat}[format]
			if spec == "" {
				spec = format
			}
			p := logformat.MustCompile(spec).NewParser()
			var r logformat.Record
			bad := 0
			var last time.Time
			seen := map[string]int{}
			for _, l := range lines {
				if err := p.Parse(l, &r); err != nil {
					bad++
					continue
				}
				if r.Time.Before(start) || !r.Time.Before(start.Add(cfg.Span)) {
					t.Fatalf("time %v outside the span: %q", r.Time, l)
				}
				if r.Time.Before(last) {
					t.Fatalf("time went back from %v to %v", last, r.Time)
				}
				last = r.Time
				if (format == "main" || format == "json") && r.Has&logformat.FieldRequestTime == 0 {
					t.Fatalf("no request time: %q", l)
				}
				switch {
				case r.UA.Vendor == "sogou" && r.UA.Browser == "ie":
					seen["sogou-ie"]++
				case r.UA.Bot != "":
					seen["bot"]++
				}
				if len(r.Query) > 0 {
					seen["query"]++
				}
				if r.Status >= 500 {
					seen["5xx"]++
				}
				if format == "vcombined" {
					if len(r.Host) == 0 {
						t.Fatalf("no host: %q", l)
					}
					if r.Status == 404 && bytes.HasPrefix(r.Path, []byte("/static/")) {
						seen["static-404"]++
					}
				}
				if len(r.UpstreamTimes) > 1 {
					seen["retry"]++
				}
			}
			if bad != st.Bad {
				t.Errorf("parser rejected %d lines, generator wrote %d bad ones", bad, st.Bad)
			}
			for _, k := range []string{"sogou-ie", "bot", "query", "5xx"} {
				if seen[k] == 0 {
					t.Errorf("no %s lines in %d", k, cfg.Lines)
				}
			}
			if format == "vcombined" && seen["static-404"] == 0 {
				t.Errorf("no missing static files")
			}
			if (format == "main" || format == "json") && seen["retry"] == 0 {
				t.Errorf("no upstream retries")
			}
		})
	}
}

// TestJSONPreset checks the json lines also parse with logformat's json
// preset (keys are nginx variable names) to the same fields.
func TestJSONPreset(t *testing.T) {
	lines, _, err := Lines(Config{Lines: 2000, Seed: 4, Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := logformat.MustCompile(JSONFormat).NewParser()
	preset := logformat.MustCompile("json").NewParser()
	var a, b logformat.Record
	for _, l := range lines {
		if err := tmpl.Parse(l, &a); err != nil {
			t.Fatalf("template: %v: %s", err, l)
		}
		if err := preset.Parse(l, &b); err != nil {
			t.Fatalf("preset: %v: %s", err, l)
		}
		if !a.Time.Equal(b.Time) || a.Status != b.Status || string(a.Path) != string(b.Path) || a.UA != b.UA || len(a.UpstreamTimes) != len(b.UpstreamTimes) {
			t.Fatalf("template and preset differ on %s", l)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{Format: "xml"}, {Lines: -1}, {Bad: 2}, {Span: -time.Second}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if _, err := Write(failWriter{}, Config{Lines: 100000}); err == nil {
		t.Errorf("Write to a failing writer succeeded")
	}
}

func BenchmarkGenerate(b *testing.B) {
	g, err := New(Config{Lines: b.N, Seed: 1, Format: "main", Bad: 0.001, Span: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	var line []byte
	n := 0
	for !g.Done() {
		line = g.Next(line[:0])
		n += len(line)
	}
	b.SetBytes(int64(n / max(b.N, 1)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	_ = io.Discard
}
