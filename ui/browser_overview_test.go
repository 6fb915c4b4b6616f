package ui

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// overviewHostFormat is nginx's main format behind $host, so the vhosts
// panel has data (canopyd gen writes no host).
const overviewHostFormat = `$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time`

// overviewSubtests checks /overview twice: on the test's daemon, which
// runs two pipes only, a panel without data says so and the others draw;
// on a daemon with every built-in pipe and the geo pipe's test database,
// fed the test's log behind three virtual hosts, every panel of /report
// has rows or bars, bytes carry a bytes unit, and the page reads the
// report again every tick without a reload.
func overviewSubtests(t *testing.T, bin, logPath string, b *browser) {
	t.Run("a panel without data says so, the rest draw", func(t *testing.T) {
		b.open(t, "/overview")
		type card struct{ ID, State, Text string }
		cards := eval[[]card](t, b, `[...document.querySelectorAll('#ov-panels section.card')].map(s => ({id: s.dataset.panel, state: s.dataset.state, text: s.innerText.slice(0, 300)}))`)
		states := map[string]card{}
		for _, c := range cards {
			states[c.ID] = c
		}
		for _, id := range []string{"browsers", "status"} {
			if c := states[id]; c.State != "data" {
				t.Errorf("panel %s (its pipe runs) is %q: %q", id, c.State, c.Text)
			}
		}
		for _, id := range []string{"requests", "hosts", "latency", "geo"} {
			if c := states[id]; c.State != "empty" || !strings.Contains(c.Text, "No data") {
				t.Errorf("panel %s (no pipe writes it here) is %q: %q, want it to say No data", id, c.State, c.Text)
			}
		}
		b.checkClean(t, "/overview (two pipes)")
	})

	t.Run("every panel has content", func(t *testing.T) {
		dir := t.TempDir()
		db, err := os.ReadFile(filepath.Join("..", "pipes-src", "geo", "testdata", "Canopy-Test.mmdb"))
		if err != nil {
			t.Fatal(err)
		}
		dbPath := filepath.Join(dir, "geo.mmdb")
		writeTestFile(t, dbPath, db)
		cfg := filepath.Join(dir, "canopyd.yaml")
		writeTestFile(t, cfg, []byte(fmt.Sprintf("pipes:\n  push_log_format: %q\n  config:\n    geo:\n      read_files: [%q]\n      params: {database: %q}\n",
			overviewHostFormat, dbPath, dbPath)))
		// Every built-in pipe: the test daemon's flags but its pipes folder.
		args := []string{"-config", cfg}
		flags := daemonFlags(t, bin)
		for i := 0; i < len(flags); i++ {
			switch flags[i] {
			case "-pipes.builtin=false":
			case "-pipes":
				i++
			default:
				args = append(args, flags[i])
			}
		}
		data := filepath.Join(dir, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		hostLog := filepath.Join(dir, "hosts.log")
		withHosts(t, logPath, hostLog)
		// Compiling every built-in pipe takes longer than a daemon may
		// take to answer; a report of the log fills the compilation cache
		// first (at once when it is warm).
		start := time.Now()
		runCmd(t, bin, "report", "--json", "--config", cfg, "--data", filepath.Join(dir, "report"), "--pipes.cache", pipesCache(),
			"--progress", "none", "--log-format", overviewHostFormat, hostLog)
		t.Logf("canopyd report of the log (the pipes compiled or cached): %.1f s", time.Since(start).Seconds())
		d := startDaemon(t, bin, testenv.FreePort(t), data, args...)
		pushLog(t, d, hostLog)
		// The latency pipe writes its percentiles and slowest requests at
		// a tick (1 s here).
		deadline := time.Now().Add(30 * time.Second)
		var rep struct {
			Panels []struct {
				ID   string            `json:"id"`
				Rows []json.RawMessage `json:"rows"`
			} `json:"panels"`
		}
		for {
			readJSON(t, "http://"+d.addr+"/report", &rep)
			ids := map[string]int{}
			for _, p := range rep.Panels {
				ids[p.ID] = len(p.Rows)
			}
			if ids["slowest"] > 0 && ids["latency"] > 0 && ids["geo"] > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s /report still lacks latency, slowest or geo rows: %v", ids)
			}
			time.Sleep(500 * time.Millisecond)
		}
		var want []string
		for _, p := range rep.Panels {
			want = append(want, p.ID)
		}
		for _, id := range []string{"visitors", "requests", "static", "not_found", "hosts", "os", "browsers", "hours",
			"vhosts", "referrers", "status", "geo", "latency", "slowest"} {
			if !slices.Contains(want, id) {
				t.Errorf("/report has no %s panel: %v", id, want)
			}
		}

		ob := newBrowser(t, "http://"+d.addr, 1280, 900)
		ob.open(t, "/overview")
		type card struct {
			ID     string
			State  string
			Rows   int     // table rows drawn
			Bars   int     // share bars wider than 0 px
			Canvas bool    // a uPlot chart
			Points float64 // its non-zero bars
			Text   string
		}
		cards := eval[[]card](t, ob, `[...document.querySelectorAll('#ov-panels section.card')].map(s => {
			const u = canopy.charts.find(c => s.contains(c.root));
			return {
				id: s.dataset.panel, state: s.dataset.state,
				rows: s.querySelectorAll('tbody tr').length,
				bars: [...s.querySelectorAll('.bar')].filter(b => b.getBoundingClientRect().width > 0).length,
				canvas: !!s.querySelector('.uplot canvas'),
				points: u ? u.data[1].filter(v => v > 0).length : 0,
				text: s.innerText.slice(0, 200),
			};
		})`)
		var got []string
		for _, c := range cards {
			got = append(got, c.ID)
			if c.State != "data" {
				t.Errorf("panel %s is %q: %q", c.ID, c.State, c.Text)
				continue
			}
			switch c.ID {
			case "visitors", "hours", "weekdays":
				if !c.Canvas || c.Points == 0 {
					t.Errorf("series panel %s: chart %v with %v bars above zero", c.ID, c.Canvas, c.Points)
				}
			default:
				if c.Rows == 0 || c.Bars == 0 {
					t.Errorf("panel %s: %d rows, %d bars drawn: %q", c.ID, c.Rows, c.Bars, c.Text)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("cards on the page %v, want the panels of /report %v", got, want)
		}
		bytesUnit := regexp.MustCompile(`^[0-9.]+ (B|KiB|MiB|GiB)$`)
		if bw := eval[string](t, ob, `document.querySelector('[data-figure="bandwidth"] .value').textContent`); !bytesUnit.MatchString(bw) {
			t.Errorf("the bandwidth figure shows %q, want a number with a bytes unit", bw)
		}
		// The hosts panel's columns: hits, percent, bytes.
		if hb := eval[string](t, ob, `document.querySelector('[data-panel="hosts"] tbody tr td:nth-child(4)').textContent`); !bytesUnit.MatchString(hb) {
			t.Errorf("the busiest host's bytes show %q, want a bytes unit", hb)
		}
		if p95 := eval[string](t, ob, `document.querySelector('[data-panel="latency"] tbody tr td:nth-child(4)').textContent`); !regexp.MustCompile(`^[0-9.]+ (µs|ms|s)$`).MatchString(p95) {
			t.Errorf("the busiest URL's p95 shows %q, want seconds with a unit", p95)
		}
		ob.screenshot(t, "overview")

		// Every tick the page reads /report again and shows the new
		// figures in place, with the rate since the last read.
		total := `document.querySelector('[data-figure="total"] .value').textContent`
		before := eval[string](t, ob, total)
		eval[bool](t, ob, `(window.__noReload = true)`)
		pushLog(t, d, hostLog)
		waitJS(t, ob, total+` !== `+jsString(before), 15*time.Second)
		waitJS(t, ob, `/req\/s$/.test(document.querySelector('[data-figure="total"] .rate')?.textContent || '')`, 15*time.Second)
		if !eval[bool](t, ob, `window.__noReload === true && canopy.overview.refreshes >= 2`) {
			t.Errorf("the page reloaded or did not read /report again")
		}
		t.Logf("total requests %s, then %s (%s)", before, eval[string](t, ob, total), eval[string](t, ob, `document.querySelector('[data-figure="total"] .rate').textContent`))
		ob.checkClean(t, "/overview")
	})
}

// withHosts writes src's lines to dst behind one of three virtual hosts.
func withHosts(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	hosts := []string{"www.example.com", "www.example.com", "api.example.com", "static.example.com"}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; sc.Scan(); i++ {
		fmt.Fprintf(w, "%s %s\n", hosts[i%len(hosts)], sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// pushLog sends an access log's lines through the daemon's pipes.
func pushLog(t testing.TB, d *daemon, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := http.Post("http://"+d.addr+"/push", "text/plain", f)
	if err != nil {
		t.Fatalf("push log: %v", err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("log push answered %d: %s", r.StatusCode, b)
	}
	t.Logf("pushed %s: %s", filepath.Base(path), strings.TrimSpace(string(b)))
}

func readJSON(t *testing.T, url string, v any) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("GET %s: %d %s", url, r.StatusCode, b)
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
