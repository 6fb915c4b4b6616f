package ingest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/bench/loggen"
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
	args := []string{"-log", logPath, "-log.format", "main", "-snapshot.interval", "200ms"}
	// The url and status pipes keep the first max_paths paths they see per
	// instance (the rest go to _other); which ones depends on batch order,
	// so lift the caps above the log's distinct paths: then every pipe's
	// output is order-independent.
	const conf = "pipes:\n  config:\n    url:\n      params: {max_paths: \"1000000\"}\n    status:\n      params: {max_paths: \"1000000\"}\n"

	// One clean run.
	start := time.Now()
	clean := startDaemon(t, filepath.Join(dir, "clean"), cache, conf, args...)
	clean.waitCaughtUp(logPath, size, 10*time.Minute)
	want := clean.flat("**")
	clean.stop()
	t.Logf("clean run: %d lines, %d tree entries in %v", n, len(want), time.Since(start).Round(time.Millisecond))

	// The same log, killed with SIGKILL at 5 random points of its progress.
	seed := uint64(time.Now().UnixNano())
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
		t.Logf("kill -9 #%d at offset %d of %d (aimed at %d)", i+1, reached, size, target)
	}
	d := startDaemon(t, data, cache, conf, args...)
	d.waitCaughtUp(logPath, size, 10*time.Minute)
	got := d.flat("**")
	d.stop()
	// Averages are not compared: an average is the mean since the last trend
	// tick, and ticks fall at other lines in each run (the snapshot keeps a
	// window's sample count, so a restart itself does not re-weight it).
	// Every counter must match.
	for k := range want {
		if strings.HasSuffix(k, ",avg") {
			t.Logf("average (not compared): %s = %v clean, %v after crashes", k, want[k], got[k])
			delete(want, k)
			delete(got, k)
		}
	}
	if diff := sortedDiff(want, got, 40); len(diff) > 0 {
		t.Fatalf("tree after 5 crashes differs from the clean run (seed %d) in %d keys:\n%v", seed, len(diff), diff)
	}
	if len(want) < 50 || want["requests"] == nil {
		t.Fatalf("clean tree looks empty: %d entries", len(want))
	}
	t.Logf("after 5 kill -9 and restarts the tree equals the clean run's: %d entries, requests=%v (seed %d)", len(got), got["requests"], seed)
}
