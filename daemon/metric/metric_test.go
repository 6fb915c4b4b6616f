package metric

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestWritePrometheus: static counters and gauges, scrape-time samples
// added out of family order, and label escaping, against a golden file.
func TestWritePrometheus(t *testing.T) {
	r := NewRegistry(false)
	v := r.NewCounterVec("x_lines_total", "Lines by source and format.", "source", "format")
	v.With("tcp", "json").Add(3)
	v.With(`we"ird\`, "a\nb").Inc()
	r.NewCounter("x_pulls_total", "Pulls.").Add(2)
	g := r.NewGauge("x_clients", "Clients now.")
	g.Inc()
	g.Inc()
	g.Dec()
	r.NewGaugeFunc("x_nodes", "Nodes.", func() float64 { return 0.5 })
	r.Collect(func(e *Exposition) {
		e.Gauge("x_up", "1 when up.", 1, "upstream", "b")
		e.Counter("x_sent_total", "Sent.", 7, "upstream", "b")
		e.Gauge("x_up", "1 when up.", 0, "upstream", "a")
	})
	var b strings.Builder
	r.WritePrometheus(&b)
	golden := filepath.Join("testdata", "exposition.txt")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("exposition =\n%s\nwant\n%s", b.String(), want)
	}
}

// TestRuntimePromtool: the Go runtime and process metrics pass
// `promtool check metrics` without a word.
func TestRuntimePromtool(t *testing.T) {
	promtool := testenv.NeedCommand(t, "promtool", "prometheus")
	var b strings.Builder
	NewRegistry(true).WritePrometheus(&b)
	for _, want := range []string{"go_goroutines ", "process_cpu_seconds_total "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("runtime metrics lack %q", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
