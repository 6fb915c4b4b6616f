package trend

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

const crashHelperEnv = "CANOPY_TREND_CRASH_HELPER"

// crashHelper runs in a child process: a tree of 1,000 counters ticking
// every 10 s (the default interval) into the embedded store, with pushes
// between ticks, printing "tick N TOTAL" once tick N is queued.
func crashHelper() int {
	dir := os.Getenv(crashHelperEnv)
	be, err := OpenEmbedded(dir, 365*24*time.Hour)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s := New(Options{Backend: be})
	tr := tree.New()
	var version uint64
	total := 0
	next := time.Now().Add(500 * time.Millisecond)
	for n := 1; ; n++ {
		// Keep writing to the tree until the tick, as ingest would.
		for time.Now().Before(next) {
			var b strings.Builder
			b.WriteString(`{"defaultaction": "add", "requests": 1, "crash": {`)
			for i := 0; i < 1000; i++ {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `"s%d": 1`, i)
			}
			b.WriteString("}}")
			if _, err := push.Merge(tr, []byte(b.String())); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			total++
			time.Sleep(50 * time.Millisecond)
		}
		next = next.Add(10 * time.Second)
		version = s.WriteChanges(tr, version, s.Now())
		tr.Tick()
		fmt.Printf("tick %d %d\n", n, total)
	}
}

// TestKill9LosesAtMostTheLastTick kills a writing process with SIGKILL a
// second after its third tick and checks that a restarted store reads every
// earlier tick.
func TestKill9LosesAtMostTheLastTick(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 25 s")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	totals := map[int]float64{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var n int
		var total float64
		if _, err := fmt.Sscanf(sc.Text(), "tick %d %v", &n, &total); err != nil {
			continue
		}
		totals[n] = total
		if n == 3 {
			break
		}
	}
	if len(totals) < 3 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper stopped before its third tick: %s", stderr.String())
	}
	time.Sleep(time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	be, err := OpenEmbedded(dir, 365*24*time.Hour)
	if err != nil {
		t.Fatalf("reopening after kill -9: %v", err)
	}
	s := New(Options{Backend: be})
	defer s.Close()
	res, err := s.Query(context.Background(), "requests", time.Now().Add(-time.Hour), time.Now(), 1000, FnLast)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) != 1 {
		t.Fatalf("after restart: %d series for requests, want 1", len(res.Series))
	}
	pts := res.Series[0].Points
	if got, want := pts[len(pts)-1].V, totals[2]; got < want {
		t.Errorf("after restart the last total read is %v, want at least tick 2's %v (ticks: %v)", got, want, totals)
	}
	keys, err := s.Keys(context.Background(), "crash,*", time.Now().Add(-time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1000 {
		t.Errorf("after restart: %d crash series, want 1000", len(keys))
	}
}

// TestOpenRefusesBadFolders: an unwritable or corrupt folder is an error
// that names the problem, not a crash deep in the library.
func TestOpenRefusesBadFolders(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	badJSON := filepath.Join(root, "badjson")
	if err := os.MkdirAll(filepath.Join(badJSON, "data", "small", "2026_01"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badJSON, "data", "small", "2026_01", "parts.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	fileAsDir := filepath.Join(root, "fileasdir")
	if err := os.MkdirAll(fileAsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fileAsDir, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dir, want string
	}{
		{"under a file", filepath.Join(file, "trend"), "cannot create trend storage folder"},
		{"corrupt parts.json", badJSON, "is not a valid part list"},
		{"file where a folder belongs", fileAsDir, "is not a folder"},
		{"garbage data metaindex", damaged(t, "small", "metaindex.bin"), "does not decompress"},
		{"garbage index metaindex", damaged(t, "indexdb", "metaindex.bin"), "does not decompress"},
		{"garbage part header", damaged(t, "small", "metadata.json"), "is not valid JSON"},
		{"missing values", damaged(t, "small", "values.bin"), "lacks values.bin"},
	} {
		_, err := OpenEmbedded(c.dir, time.Hour)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.want)
		}
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(root, "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenEmbedded(ro, time.Hour); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("read-only folder: err = %v, want \"not writable\"", err)
		}
	}
}

// damaged returns a store folder holding some points whose file name in a
// part of kind (small or indexdb) was overwritten with garbage, or removed
// when it is values.bin.
func damaged(t *testing.T, kind, name string) string {
	t.Helper()
	dir := t.TempDir()
	be, err := OpenEmbedded(dir, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	for i := 0; i < 10000; i++ {
		rows = append(rows, Row{Key: "a", Kind: Gauge, TS: time.Now().Add(-time.Duration(i) * time.Second).UnixMilli(), Value: float64(i)})
	}
	if err := be.Add(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	be.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "data", kind, "*", "*", name))
	if len(files) == 0 {
		t.Fatalf("no %s/%s in the store", kind, name)
	}
	for _, f := range files {
		if name == "values.bin" {
			err = os.Remove(f)
		} else {
			err = os.WriteFile(f, []byte("garbage garbage garbage"), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDamagedDataFailsTheQuery: damage the open check cannot see (inside a
// data file) fails the query with an error instead of crashing.
func TestDamagedDataFailsTheQuery(t *testing.T) {
	dir := damaged(t, "small", "index.bin")
	be, err := OpenEmbedded(dir, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	_, err = be.Read(context.Background(), &Matcher{Pattern: "a", Exact: true}, 0, time.Now().UnixMilli())
	if err == nil || !strings.Contains(err.Error(), "damaged file") {
		t.Errorf("reading a damaged store: err = %v, want one saying a file is damaged", err)
	}
}
