package ingest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/testenv"
)

// crashLines is the log size of TestCrashRecovery (CANOPY_CRASH_LINES
// overrides; -short uses 100,000).
func crashLines(t *testing.T) int {
	if s := os.Getenv("CANOPY_CRASH_LINES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("CANOPY_CRASH_LINES=%q: %v", s, err)
		}
		return n
	}
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

// TestCrashRecovery ingests a log with the real canopyd, kills it with
// SIGKILL at 5 random moments and restarts it each time; the final tree
// must equal that of one uninterrupted run.
func TestCrashRecovery(t *testing.T) {
	n := crashLines(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loggen.Write(f, loggen.Config{Lines: n, Seed: 5, Format: "main", Bad: 0.001}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(logPath)
	size := fi.Size()
	cache := wasmCache(t)
	// No trend tick during the test: an average is then the mean of every
	// sample, which a restart must keep exactly (the snapshot holds each
	// average's window), instead of depending on when ticks fell.
	// The log's lines are of one day long ago: the trend store gets them
	// as late lines, at their own time (retention 10y keeps them).
	args := []string{"-log", logPath, "-log.format", "main", "-snapshot.interval", "200ms", "-trend.interval", "24h", "-trend.retention", "10y"}
	// Capped pipes keep the items they see first or most, which depends
	// on batch order and restarts: lift the caps so every pipe's output
	// depends only on the lines.
	const conf = testenv.ExactPipesConfig

	// One clean run.
	start := time.Now()
	clean := startDaemon(t, filepath.Join(dir, "clean"), cache, conf, args...)
	clean.waitCaughtUp(logPath, size, 10*time.Minute)
	want := clean.flat("**")
	wantTrend := clean.trendRequests(t, want["requests"])
	clean.stop()
	// Every run's log, for the pipe errors a difference may come from.
	runLogs := []string{"clean run:\n" + clean.output()}
	t.Logf("clean run: %d lines, %d tree entries in %v", n, len(want), time.Since(start).Round(time.Millisecond))

	// The same log, killed with SIGKILL at 5 random points of its progress.
	// CRASH_SEED=<seed> re-runs a logged seed's kill points (the kills
	// still fall where the daemon's progress is when polled, so a seed
	// repeats them only about).
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("kill points from seed %d (CRASH_SEED=%d re-runs them)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var at []int64
	for range 5 {
		at = append(at, size/20+rng.Int64N(size*18/20))
	}
	slices.Sort(at)
	data := filepath.Join(dir, "crashy")
	for i, target := range at {
		d := startDaemon(t, data, cache, conf, args...)
		var reached int64
		deadline := time.Now().Add(10 * time.Minute)
		for reached < target && time.Now().Before(deadline) {
			if st, err := d.status(); err == nil {
				for _, f := range st.Ingest.Files {
					if f.File == logPath {
						reached = f.Offset
					}
				}
			}
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		d.kill()
		runLogs = append(runLogs, fmt.Sprintf("run %d (killed):\n%s", i+1, d.output()))
		t.Logf("kill -9 #%d at offset %d of %d (aimed at %d)", i+1, reached, size, target)
	}
	d := startDaemon(t, data, cache, conf, args...)
	d.waitCaughtUp(logPath, size, 10*time.Minute)
	got := d.flat("**")
	// The late lines' points are written right after the snapshots that
	// hold their lines, so no line is counted twice after a kill. Some
	// may be missing: the embedded store makes points durable only within
	// about 5 s (trend README), and a run killed before loses its last ones.
	gotTrend := d.trendRequests(t, got["requests"])
	d.stop()
	runLogs = append(runLogs, "last run:\n"+d.output())
	if wantTrend != want["requests"] {
		t.Errorf("trend counts %v requests in the clean run, the tree %v", wantTrend, want["requests"])
	}
	if g, ok := gotTrend.(float64); !ok || g > want["requests"].(float64) {
		t.Errorf("trend counts %v requests after 5 crashes, more than the %v lines", gotTrend, want["requests"])
	}
	t.Logf("trend after 5 kill -9: %v requests of %v (clean run: %v)", gotTrend, got["requests"], wantTrend)
	testenv.DropKeys(append(testenv.TickKeys, testenv.SinceStartKeys...), want, got)
	testenv.SumKeys("lat,hits,", "lat,hits total", want, got)
	// Sums of fractional numbers (durations, averages) are compared to
	// 1e-9: after a restart lines merge in other batch groupings, so the
	// last bits of a float sum may differ. Counts are whole numbers and
	// compare exactly.
	for k, w := range want {
		wf, wok := w.(float64)
		gf, gok := got[k].(float64)
		if wok && gok && wf != math.Trunc(wf) && math.Abs(wf-gf) <= 1e-9*math.Max(math.Abs(wf), 1) {
			got[k] = w
		}
	}
	// A pipe call that failed (over its call time limit on a loaded
	// machine, say) loses that batch's deltas for that pipe alone: not a
	// recovery bug, and the daemons' logs say so.
	t.Logf("pipe errors in the daemons' logs:\n%s", pipeErrors(runLogs))
	if keys := differingKeys(want, got); len(keys) > 0 {
		// 40 keys rarely say which pipe or direction: the per-prefix sums
		// do (the hosts pipe alone short, say), and with -artifacts both
		// trees are kept for a closer look.
		t.Logf("differing keys by prefix (clean vs crashed sums):\n%s", diffByPrefix(want, got))
		dumpTrees(t, want, got)
		t.Fatalf("tree after 5 crashes differs from the clean run (CRASH_SEED=%d) in %d keys:\n%v", seed, len(keys), sortedDiff(want, got, 40))
	}
	if len(want) < 50 || want["requests"] == nil {
		t.Fatalf("clean tree looks empty: %d entries", len(want))
	}
	t.Logf("after 5 kill -9 and restarts the tree equals the clean run's: %d entries, requests=%v (seed %d)", len(got), got["requests"], seed)
}

// trendRequests is the count of requests in the trend store over the
// log's time (a year before now to now), waited for until it reaches want
// (the tree's) or 30 s pass.
func (d *daemon) trendRequests(t *testing.T, want any) any {
	t.Helper()
	q := url.Values{"key": {"requests"}, "as": {"count"}, "points": {"1"},
		"from": {time.Now().AddDate(-1, 0, 0).Format(time.RFC3339)}, "until": {time.Now().Format(time.RFC3339)}}
	var got any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var res struct {
			Series []struct {
				Points [][2]any `json:"points"` // [t, v]
			} `json:"series"`
		}
		if err := d.getJSON("/trend?"+q.Encode(), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Series) == 1 && len(res.Series[0].Points) == 1 {
			if got = res.Series[0].Points[0][1]; got == want {
				break
			}
		}
	}
	return got
}

// diffByPrefix sums the keys that differ between want and got by their
// first two components (and lists each prefix's _other key), one line per
// prefix.
func diffByPrefix(want, got map[string]any) string {
	type sums struct {
		n         int
		want, got float64
	}
	by := map[string]*sums{}
	add := func(k string) {
		p := k
		if parts := strings.SplitN(k, ",", 3); len(parts) == 3 {
			p = parts[0] + "," + parts[1]
		}
		s := by[p]
		if s == nil {
			s = &sums{}
			by[p] = s
		}
		s.n++
		w, _ := want[k].(float64)
		g, _ := got[k].(float64)
		s.want += w
		s.got += g
	}
	for _, k := range differingKeys(want, got) {
		add(k)
	}
	var lines []string
	for p, s := range by {
		o := p + "," + "_other"
		lines = append(lines, fmt.Sprintf("%s: %d keys, %v vs %v (%v); %s: %v vs %v", p, s.n, s.want, s.got, s.got-s.want, o, want[o], got[o]))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// dumpTrees writes both flat trees as JSON to the test's artifact
// directory (kept when go test runs with -artifacts).
func dumpTrees(t *testing.T, want, got map[string]any) {
	t.Helper()
	dir := t.ArtifactDir()
	for name, m := range map[string]map[string]any{"clean.json": want, "crashed.json": got} {
		b, err := json.MarshalIndent(m, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatalf("cannot write %q: %v", path, err)
		}
		t.Logf("tree written to %s", path)
	}
}

func TestDiffByPrefix(t *testing.T) {
	tests := []struct {
		name      string
		want, got map[string]any
		out       string
	}{
		{"fewer bytes, hits exact",
			map[string]any{"hosts,hits,a": 2.0, "hosts,bytes,a": 10.0, "hosts,bytes,b": 5.0, "hosts,bytes,_other": 0.0},
			map[string]any{"hosts,hits,a": 2.0, "hosts,bytes,a": 7.0, "hosts,bytes,_other": 0.0},
			"hosts,bytes: 2 keys, 15 vs 7 (-8); hosts,bytes,_other: 0 vs 0"},
		{"a key only after the crashes",
			map[string]any{"requests": 3.0},
			map[string]any{"requests": 3.0, "status,200,x": 1.0},
			"status,200: 1 keys, 0 vs 1 (1); status,200,_other: <nil> vs <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diffByPrefix(tt.want, tt.got); got != tt.out {
				t.Errorf("diffByPrefix = %q, want %q", got, tt.out)
			}
		})
	}
}

// pipeErrors returns the lines of the daemons' logs (each headed by its
// run) that report a pipe's failure, or "none".
func pipeErrors(logs []string) string {
	var out []string
	for _, l := range logs {
		head, body, _ := strings.Cut(l, "\n")
		for line := range strings.Lines(body) {
			if strings.Contains(line, "pipe") && (strings.Contains(line, "error") || strings.Contains(line, "cannot") ||
				strings.Contains(line, "limit") || strings.Contains(line, "quarantin") || strings.Contains(line, "fail")) {
				out = append(out, head+" "+strings.TrimSpace(line))
			}
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "\n")
}

func TestPipeErrors(t *testing.T) {
	tests := []struct {
		name string
		logs []string
		want string
	}{
		{"none", []string{"clean run:\ncanopyd listening on http://x\n"}, "none"},
		{"a call over its time limit",
			[]string{"clean run:\nok\n", "run 2 (killed):\n2026/12/07 pipe hosts: exceeded the call time limit (1s): interrupted\nother\n"},
			"run 2 (killed): 2026/12/07 pipe hosts: exceeded the call time limit (1s): interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pipeErrors(tt.logs); got != tt.want {
				t.Errorf("pipeErrors = %q, want %q", got, tt.want)
			}
		})
	}
}
