package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// table collects one row per scenario; TestMain prints it after the run so
// CI logs (and `task test:chaos`) end with test | result | figure.
type table struct {
	mu   sync.Mutex
	rows []row
}

type row struct{ test, result, figure string }

var results table // the one shared table of this test binary

// report records the row of t's scenario: pass or FAIL by t's outcome at
// the end of the test, with figure saying what was measured.
func report(t *testing.T, figure string, args ...any) {
	t.Helper()
	fig := fmt.Sprintf(figure, args...)
	t.Cleanup(func() {
		res := "pass"
		if t.Failed() {
			res = "FAIL"
		} else if t.Skipped() {
			res = "skip"
		}
		results.mu.Lock()
		results.rows = append(results.rows, row{t.Name(), res, fig})
		results.mu.Unlock()
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	results.mu.Lock()
	rows := results.rows
	results.mu.Unlock()
	if len(rows) > 0 {
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].test < rows[j].test })
		w := [3]int{4, 6, 6}
		for _, r := range rows {
			w[0], w[1] = max(w[0], len(r.test)), max(w[1], len(r.result))
		}
		var b strings.Builder
		fmt.Fprintf(&b, "\n%-*s | %-*s | figure\n", w[0], "test", w[1], "result")
		fmt.Fprintf(&b, "%s-|-%s-|-------\n", strings.Repeat("-", w[0]), strings.Repeat("-", w[1]))
		for _, r := range rows {
			fmt.Fprintf(&b, "%-*s | %-*s | %s\n", w[0], r.test, w[1], r.result, r.figure)
		}
		os.Stdout.WriteString(b.String())
		if p := os.Getenv("CHAOS_TABLE"); p != "" {
			os.WriteFile(p, []byte(b.String()), 0o644)
		}
	}
	os.Exit(code)
}

// daemon is a canopyd under test with its data dir and config.
type daemon struct {
	*testenv.Proc
	Data, Config, Pipes string
}

// startDaemon runs canopyd with config (YAML text), a fresh data dir and a
// pipes folder holding the named built-in pipes (none: an empty folder).
func startDaemon(t *testing.T, config string, pipes []string, extra ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{Data: filepath.Join(dir, "data"), Config: filepath.Join(dir, "canopyd.yaml"), Pipes: filepath.Join(dir, "pipes")}
	must(t, os.MkdirAll(d.Pipes, 0o755))
	must(t, os.WriteFile(d.Config, []byte(config), 0o644))
	for _, p := range pipes {
		wasm, err := os.ReadFile(filepath.Join("..", "..", "pipes-wasm", p+".wasm"))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(d.Pipes, p+".wasm"), wasm, 0o644))
	}
	args := append([]string{"-data", d.Data, "-config", d.Config, "-pipes", d.Pipes, "-pipes.builtin=false", "-default-source=false"}, extra...)
	d.Proc = testenv.StartCanopyd(t, testenv.BuildCanopyd(t), args...)
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rssMiB is the resident set of pid, from /proc.
func rssMiB(t testing.TB, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// client has a generous timeout: a hostile request may take a while to be
// refused, but must never hang.
var client = &http.Client{Timeout: 60 * time.Second}

// do sends one request and returns status, body and content type.
func do(t testing.TB, method, url string, body io.Reader, header ...string) (int, []byte, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	must(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, resp.Header.Get("Content-Type")
}

// jsonError returns the "error" of a JSON error body, or "" when the body
// is not one.
func jsonError(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(bytes.TrimSpace(b), &e) != nil {
		return ""
	}
	return e.Error
}

// getNumber reads one key's number from /get (0 when absent).
func getNumber(t testing.TB, base, key string, header ...string) float64 {
	t.Helper()
	code, b, _ := do(t, "GET", base+"/get/"+key, nil, header...)
	if code != 200 {
		t.Fatalf("/get/%s: %d %s", key, code, b)
	}
	var list []map[string]any
	must(t, json.Unmarshal(b, &list))
	for _, m := range list {
		if v, ok := m[key].(float64); ok {
			return v
		}
	}
	return 0
}

// status reads /status as a map.
func status(t testing.TB, base string, header ...string) map[string]any {
	t.Helper()
	code, b, _ := do(t, "GET", base+"/status", nil, header...)
	if code != 200 {
		t.Fatalf("/status: %d %s", code, b)
	}
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	return m
}
