package chaos

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestReplayGzResume: `canopyd replay --trend` of a generated .gz log is
// killed with SIGKILL midway and the same replay is run again on the same
// data dir. A replay does not resume: it starts again from the first line
// into a fresh tree and rewrites the trend points at the lines' own times
// (counters as running totals, so the rewrite is the same total; the
// store reads a point rewritten at the same millisecond once). In the end
// the tree and the trend count every line once, and the trend equals a
// clean replay's.
func TestReplayGzResume(t *testing.T) {
	const lines = 2_500_000
	dir := t.TempDir()
	gz := filepath.Join(dir, "access.log.gz")
	f, err := os.Create(gz)
	must(t, err)
	zw := gzip.NewWriter(f)
	start := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Hour).UTC()
	_, err = loggen.Write(zw, loggen.Config{Lines: lines, Seed: 22, Bad: 0, Start: start, Span: 24 * time.Hour})
	must(t, err)
	must(t, zw.Close())
	must(t, f.Close())
	fi, _ := os.Stat(gz)

	pipes := filepath.Join(dir, "pipes")
	must(t, os.MkdirAll(pipes, 0o755))
	for _, p := range []string{"status", "bytes", "url"} { // counters and a gauge; url for pace
		wasm, err := os.ReadFile(filepath.Join("..", "..", "pipes-wasm", p+".wasm"))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(pipes, p+".wasm"), wasm, 0o644))
	}
	conf := filepath.Join(dir, "canopyd.yaml")
	must(t, os.WriteFile(conf, []byte("{}\n"), 0o644))
	bin := testenv.BuildCanopyd(t)
	replay := func(data string) *exec.Cmd {
		return exec.Command(bin, "replay", "-config", conf, "-data", data, "-pipes", pipes, "-pipes.builtin=false",
			"-pipes.cache", filepath.Join(os.TempDir(), "canopy-test-wasm-cache"), "-progress", "plain", "--trend", "--print", gz)
	}
	// requestsIn reads the tree's requests from --print's flat list.
	requestsIn := func(out []byte) float64 {
		var list []map[string]any
		must(t, json.Unmarshal(out, &list))
		for _, m := range list {
			if v, ok := m["requests"].(float64); ok {
				return v
			}
		}
		return 0
	}

	// The killed run: SIGKILL 8 s in (or at 70 % on a fast machine), past the embedded store's first
	// flushes to disk (every few seconds), so the second run rewrites
	// points that are there.
	data := filepath.Join(dir, "data")
	cmd := replay(data)
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	began := time.Now()
	killedAt := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var pct float64
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "replay: %f%% %d lines", &pct, &n); err == nil && (time.Since(began) >= 8*time.Second || pct >= 70) {
			cmd.Process.Kill()
			killedAt = fmt.Sprintf("%.0f%% (%d lines)", pct, n)
			break
		}
	}
	cmd.Wait()
	if killedAt == "" {
		t.Fatal("the replay ended within 8 s: make the log larger")
	}

	var errb bytes.Buffer
	second := replay(data)
	second.Stderr = &errb
	out, err := second.Output()
	if err != nil {
		t.Fatalf("replay after the kill: %v\n%s", err, errb.String())
	}
	tree := requestsIn(out)
	ref := replay(filepath.Join(dir, "ref"))
	refOut, err := ref.Output()
	must(t, err)
	if r := requestsIn(refOut); r != lines {
		t.Fatalf("a clean replay counts %.0f requests of %d lines", r, lines)
	}

	// Read both trend stores through canopyd.
	from, until := start.Add(-time.Hour).Format(time.RFC3339), start.Add(26*time.Hour).Format(time.RFC3339)
	trendOf := func(data string) (requests float64, all string) {
		d := testenv.StartCanopyd(t, bin, "-data", data, "-config", conf, "-pipes", pipes, "-pipes.builtin=false", "-default-source=false")
		defer d.Kill()
		var res struct {
			Series []struct {
				Key    string       `json:"key"`
				Points [][2]float64 `json:"points"`
			} `json:"series"`
		}
		code, b, _ := do(t, "GET", d.URL()+"/trend/requests?as=count&points=100&from="+from+"&until="+until, nil)
		if code != 200 {
			t.Fatalf("/trend/requests: %d %s", code, b)
		}
		must(t, json.Unmarshal(bytes.ReplaceAll(b, []byte("null"), []byte("0")), &res))
		for _, s := range res.Series {
			for _, p := range s.Points {
				requests += p[1]
			}
		}
		// every series: more than do's 1 MiB
		resp, err := client.Get(d.URL() + "/trend/**?as=count&fn=sum&points=100&from=" + from + "&until=" + until)
		must(t, err)
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, err)
		if resp.StatusCode != 200 {
			t.Fatalf("/trend/**: %s %.300s", resp.Status, b)
		}
		must(t, json.Unmarshal(b, &struct{}{}))
		return requests, string(b)
	}
	trend, all := trendOf(data)
	refTrend, refAll := trendOf(filepath.Join(dir, "ref"))
	if tree != lines || trend != lines {
		t.Errorf("after a kill and a second replay: tree %.0f, trend %.0f requests of %d lines", tree, trend, lines)
	}
	// url and status's errors,CODE,PATH keep the first paths each
	// instance sees, so which ones depends on how batches fell on
	// workers: those series are left out. Every other series must be equal.
	diffs := diffSeries(t, all, refAll, "url,", "errors,")
	same := len(diffs) == 0
	if !same {
		t.Errorf("the trend after a kill and a second replay differs from a clean replay's (trend count %.0f, clean %.0f) in %d series, e.g. %s", trend, refTrend, len(diffs), diffs[0])
	}
	report(t, "%d lines, %.1f MiB .gz; replay --trend kill -9 at %s, run again from the start (no resume): tree %.0f, trend %.0f (lost %.0f, twice %.0f); every trend series equal to a clean replay's: %v",
		lines, float64(fi.Size())/(1<<20), killedAt, tree, trend, max(0, lines-trend), max(0, trend-lines), same)
}

// diffSeries compares two /trend answers series by series (values within
// 1e-9 relative, nulls alike), leaving out keys with a skip prefix; it
// returns what differs.
func diffSeries(t *testing.T, got, want string, skip ...string) []string {
	t.Helper()
	parse := func(b string) map[string][][2]*float64 {
		var res struct {
			Series []struct {
				Key    string        `json:"key"`
				Points [][2]*float64 `json:"points"`
			} `json:"series"`
		}
		must(t, json.Unmarshal([]byte(b), &res))
		m := map[string][][2]*float64{}
		for _, s := range res.Series {
			if !slices.ContainsFunc(skip, func(p string) bool { return strings.HasPrefix(s.Key, p) }) {
				m[s.Key] = s.Points
			}
		}
		return m
	}
	g, w := parse(got), parse(want)
	var diffs []string
	for k, wp := range w {
		gp, ok := g[k]
		if !ok || len(gp) != len(wp) {
			diffs = append(diffs, fmt.Sprintf("%s: %d points, want %d", k, len(gp), len(wp)))
			continue
		}
		for i := range wp {
			a, b := gp[i][1], wp[i][1]
			if (a == nil) != (b == nil) || a != nil && math.Abs(*a-*b) > 1e-9*math.Max(1, math.Abs(*b)) {
				diffs = append(diffs, fmt.Sprintf("%s at point %d: %v, want %v", k, i, fmtPtr(a), fmtPtr(b)))
				break
			}
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, k+": only after the kill")
		}
	}
	return diffs
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}
