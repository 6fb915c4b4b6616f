package report_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/report"
	"github.com/canopy-dev/canopy/daemon/testenv"
)

// hostFormat is nginx's main format behind $host, so the vhosts panel has
// data (loggen writes no host).
const hostFormat = `$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time`

// writeHostLog writes a gzipped generated log in hostFormat: loggen's
// main-format lines, each behind one of three virtual hosts.
func writeHostLog(t *testing.T, path string, lines int) {
	t.Helper()
	var plain bytes.Buffer
	if _, err := loggen.Write(&plain, loggen.Config{Lines: lines, Seed: 11, Format: "main", Bad: 0.001}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	hosts := []string{"www.example.com", "www.example.com", "api.example.com", "static.example.com"}
	sc := bufio.NewScanner(&plain)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; sc.Scan(); i++ {
		fmt.Fprintf(zw, "%s %s\n", hosts[i%len(hosts)], sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHTMLInChromium: `canopyd report --html` of a generated .gz log with
// every built-in pipe and the geo pipe's test database, opened in headless
// Chromium from a file:// URL: the page loads nothing but itself, reports
// no console error (a blocked load would be one), and every panel of
// the JSON report of the same log is on the page with content.
func TestHTMLInChromium(t *testing.T) {
	chromium := testenv.NeedCommand(t, "chromium", "chromium")
	bin := testenv.BuildCanopyd(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log.gz")
	// CANOPY_REPORT_LINES=1000000 runs the acceptance's 1M-line case by
	// hand; the log's time is the generator's, the report's is logged.
	lines := 20_000
	if n, err := strconv.Atoi(os.Getenv("CANOPY_REPORT_LINES")); err == nil && n > 0 {
		lines = n
	}
	writeHostLog(t, logPath, lines)
	db, err := os.ReadFile(filepath.Join("..", "..", "pipes-src", "geo", "testdata", "Canopy-Test.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "geo.mmdb")
	if err := os.WriteFile(dbPath, db, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "canopyd.yaml")
	yaml := fmt.Sprintf("pipes:\n  config:\n    geo:\n      read_files: [%q]\n      params: {database: %q}\n", dbPath, dbPath)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Compiled pipes are kept between runs: compiling all of them costs
	// more than the rest of the test.
	cache := filepath.Join(os.TempDir(), "canopy-report-test-wasm-cache")
	args := []string{"--config", cfg, "--data", filepath.Join(dir, "data"), "--pipes.cache", cache,
		"--progress", "none", "--log-format", hostFormat}
	htmlPath := filepath.Join(dir, "r.html")
	run := func(extra ...string) []byte {
		cmd := exec.Command(bin, append(append([]string{"report"}, extra...), append(args, logPath)...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("canopyd report %s: %v\n%s", strings.Join(extra, " "), err, stderr.Bytes())
		}
		var cpu time.Duration
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		t.Logf("canopyd report %s of %d lines: %.1f s wall, %.1f s CPU", strings.Join(extra, " "), lines, time.Since(start).Seconds(), cpu.Seconds())
		return out
	}
	run("--html", htmlPath)
	var r report.Report
	if err := json.Unmarshal(run("--json"), &r); err != nil {
		t.Fatalf("report --json: %v", err)
	}
	want := []string{"overview"}
	for _, p := range r.Panels {
		want = append(want, p.ID)
	}
	for _, id := range []string{"vhosts", "geo", "asn", "latency", "slowest"} {
		if !slices.Contains(want, id) {
			t.Errorf("the JSON report has no %s panel: %v", id, want)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("cannot start chromium: %v", err)
	}
	var mu sync.Mutex
	var requests, consoleErrs []string
	go func() {
		for ev, err := range chromedp.Events(ctx, network.RequestWillBeSent) {
			if err != nil {
				return
			}
			mu.Lock()
			requests = append(requests, ev.Request.URL)
			mu.Unlock()
		}
	}()
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				mu.Lock()
				consoleErrs = append(consoleErrs, m.Text)
				mu.Unlock()
			}
		}
	}()
	fileURL := "file://" + htmlPath
	if err := chromedp.Do(ctx, chromedp.Navigate(fileURL)); err != nil {
		t.Fatalf("cannot open %s: %v", fileURL, err)
	}
	type panel struct {
		ID    string `json:"id"`
		Rows  int    `json:"rows"`
		Stats int    `json:"stats"`
		Chart bool   `json:"chart"`
		Text  string `json:"text"`
	}
	panels, err := chromedp.Run(ctx, chromedp.Evaluate[[]panel](`[...document.querySelectorAll("section.panel")].map(s => ({
		id: s.dataset.panel,
		rows: s.querySelectorAll("tbody tr").length,
		stats: s.querySelectorAll(".stat").length,
		chart: s.querySelector("svg.chart rect") !== null,
		text: s.textContent.slice(0, 200),
	}))`))
	if err != nil {
		t.Fatalf("cannot read the panels: %v", err)
	}
	// The CSP would block a load before it is a request, so the page must
	// not even refer to anything outside itself.
	refs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("*")].flatMap(e =>
		[...e.attributes].filter(a => /^\s*(https?:|\/\/|file:)/i.test(a.value) || /url\(/i.test(a.value)).map(a => e.tagName + " " + a.name + "=" + a.value))`))
	if err != nil {
		t.Fatalf("cannot read the attributes: %v", err)
	}
	for _, ref := range refs {
		t.Errorf("the page refers outside itself: %s", ref)
	}
	// Let late loads (there should be none) reach the listener.
	time.Sleep(500 * time.Millisecond)

	var got []string
	for _, p := range panels {
		got = append(got, p.ID)
		if p.Rows == 0 && p.Stats == 0 {
			t.Errorf("panel %s has no content: %q", p.ID, p.Text)
		}
		if (p.ID == "visitors" || p.ID == "hours" || p.ID == "browsers") && !p.Chart {
			t.Errorf("panel %s has no chart", p.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("panels on the page = %v, want those of the JSON report %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(requests, fileURL) {
		t.Errorf("the request listener did not see the page itself (%v): the network check would prove nothing", requests)
	}
	for _, u := range requests {
		if u != fileURL && !strings.HasPrefix(u, "data:") {
			t.Errorf("the report loaded %s: it must need nothing but itself", u)
		}
	}
	if len(consoleErrs) > 0 {
		t.Errorf("console errors: %v", consoleErrs)
	}
	fi, err := os.Stat(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report.html: %d bytes, %d panels", fi.Size(), len(panels))
}
