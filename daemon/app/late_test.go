package app

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/trend"
)

// TestBacklogAtItsOwnTimes is what a person sees on the history pages after
// canopyd reads old lines: a daemon started on a log that already holds two
// hours of lines (follow), and a running daemon handed two hours of old log
// by POST /replay (replay) or as access-log text by POST /push (push). Read back from /trend after some live ticks, the
// backlog's minutes count the lines logged in them, no point at the ticks
// holds more than the live lines (no spike at the moment the backlog was
// read), and the tree and the trend count every line once.
func TestBacklogAtItsOwnTimes(t *testing.T) {
	cache := t.TempDir()
	pipesDir := statusPipe(t)
	const (
		tick    = time.Second
		minutes = 120
		live    = 3 // lines a second, after the backlog
		seconds = 6
	)
	perMinute := func(m int) int { return 1 + m%7 }
	for _, mode := range []string{"follow", "replay", "push"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			// Two hours of backlog, ending a minute or two before now: each
			// minute's lines at :05 and :35.
			t0 := time.Now().Truncate(time.Minute).Add(-(minutes + 1) * time.Minute)
			var old strings.Builder
			backlog := writeBacklog(t0, minutes, perMinute, func(int, int) *strings.Builder { return &old })
			logPath := filepath.Join(dir, "access.log")
			first := ""
			if mode == "follow" {
				first = old.String()
			}
			if err := os.WriteFile(logPath, []byte(first), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
				Pipes:  PipeFlags{Dir: pipesDir, Cache: cache},
				Ingest: IngestFlags{Log: logPath, LogFormat: "combined", Poll: 50 * time.Millisecond},
				Trend:  &trend.Flags{Interval: tick, Retention: trend.Duration(24 * time.Hour), Memory: 32 << 20}}
			d := startDaemon(t, cfg)
			defer d.Stop()
			base := "http://" + d.Addr()
			start := time.Now().Truncate(time.Second)

			writeLive := func(n int) {
				f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				for range n {
					f.WriteString(combinedLine(time.Now()))
				}
				f.Close()
			}
			total := 0
			if mode != "follow" {
				// The daemon counts current lines before and while the old
				// log is replayed or pushed into it.
				for range 2 {
					writeLive(live)
					total += live
					time.Sleep(time.Second)
				}
			}
			if mode == "push" {
				// Old access-log lines pushed as text: each dated by its
				// own $time_local.
				resp, err := http.Post(base+"/push", "text/plain", strings.NewReader(old.String()))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("POST /push: %s", resp.Status)
				}
			}
			if mode == "replay" {
				oldPath := filepath.Join(dir, "old.log")
				if err := os.WriteFile(oldPath, []byte(old.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				resp, err := http.Post(base+"/replay", "application/json", strings.NewReader(fmt.Sprintf(`{"files": [%q], "log_format": "combined"}`, oldPath)))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("POST /replay: %s", resp.Status)
				}
			}
			for range seconds {
				writeLive(live)
				total += live
				time.Sleep(time.Second)
			}
			total += backlog
			if got := waitRequests(t, base, total, time.Minute); got != total {
				t.Fatalf("tree requests = %d, want %d (%d backlog + %d live)", got, total, backlog, total-backlog)
			}
			// Every backlog line counts as late; so may a few live ones: their
			// $time_local is truncated to the second, which a poll later can
			// be more than the one-second tick old.
			var status struct {
				Ingest struct {
					LateLines int `json:"late_lines"`
				} `json:"ingest"`
			}
			getJSON(t, base+"/status", &status)
			if status.Ingest.LateLines < backlog || status.Ingest.LateLines > total {
				t.Errorf("/status ingest.late_lines = %d, want the %d backlog lines up to all %d", status.Ingest.LateLines, backlog, total)
			}
			if mode == "replay" {
				var st struct {
					Running bool   `json:"running"`
					Lines   int    `json:"lines"`
					Error   string `json:"error"`
				}
				getJSON(t, base+"/replay", &st)
				if st.Running || st.Lines != strings.Count(old.String(), "\n") || st.Error != "" {
					t.Fatalf("GET /replay: %+v, want done with %d lines", st, backlog)
				}
			}
			time.Sleep(3 * tick) // the last live lines' tick
			wrong, peak, sum := checkOwnTimes(t, d, base, t0, minutes, perMinute, start, tick, 3*live, total)
			t.Logf("%s: %d backlog lines over %d minutes, %d of them counted wrong; %d live lines, the largest tick %v; trend total %v of %d",
				mode, backlog, minutes, wrong, total-backlog, peak, sum, total)
		})
	}
}

// TestRestartBacklogAtItsOwnTimes: a daemon stopped in the middle of a
// backlog, in the middle of one of its intervals, and started again on the
// same data once more of the log was written: the history is still at the
// log's own times on both sides of the restart (the late points of the
// first run are written with its last snapshot, the second run's go after
// them), and nothing is counted twice.
func TestRestartBacklogAtItsOwnTimes(t *testing.T) {
	pipesDir := statusPipe(t)
	cache := t.TempDir()
	const (
		tick    = time.Second
		minutes = 120
		live    = 3
		seconds = 6
	)
	perMinute := func(m int) int { return 2 + m%7 }
	dir := t.TempDir()
	t0 := time.Now().Truncate(time.Minute).Add(-(minutes + 1) * time.Minute)
	// Minute m's lines at :05 and :35; the first run reads up to the first
	// of minute 60's lines at :05, then after a tick its second (so that
	// interval has two points), the second run the rest.
	var before, again, after strings.Builder
	backlog := writeBacklog(t0, minutes, perMinute, func(m, i int) *strings.Builder {
		switch {
		case m < minutes/2 || m == minutes/2 && i == 1:
			return &before
		case m == minutes/2 && i == 2:
			return &again
		}
		return &after
	})
	logPath := filepath.Join(dir, "access.log")
	if err := os.WriteFile(logPath, []byte(before.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), SnapshotEvery: time.Hour,
		Pipes:  PipeFlags{Dir: pipesDir, Cache: cache},
		Ingest: IngestFlags{Log: logPath, LogFormat: "combined", Poll: 50 * time.Millisecond},
		Trend:  &trend.Flags{Interval: tick, Retention: trend.Duration(24 * time.Hour), Memory: 32 << 20}}
	start := func() (*Daemon, string) {
		d := startDaemon(t, cfg)
		return d, "http://" + d.Addr()
	}
	appendLog := func(text string) {
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(text)
		f.Close()
	}
	d, base := start()
	first := strings.Count(before.String(), "\n")
	for i, part := range []string{"", again.String()} {
		appendLog(part)
		first += strings.Count(part, "\n")
		if got := waitRequests(t, base, first, time.Minute); got != first {
			d.Stop()
			t.Fatalf("first run, part %d: tree requests = %d, want %d", i+1, got, first)
		}
		time.Sleep(3 * tick)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}

	// The second run ticks a few times before the rest of the backlog is
	// there to read (as after a slow pipe load).
	d, base = start()
	time.Sleep(3 * tick)
	appendLog(after.String())
	defer d.Stop()
	since := time.Now().Truncate(time.Second)
	total := backlog
	for range seconds {
		appendLog(strings.Repeat(combinedLine(time.Now()), live))
		total += live
		time.Sleep(time.Second)
	}
	if got := waitRequests(t, base, total, time.Minute); got != total {
		t.Fatalf("second run: tree requests = %d, want %d (%d backlog + %d live)", got, total, backlog, total-backlog)
	}
	time.Sleep(3 * tick)
	wrong, peak, sum := checkOwnTimes(t, d, base, t0, minutes, perMinute, since, tick, 3*live, total)
	t.Logf("%d backlog lines over %d minutes, %d read before the restart; %d minutes counted wrong; the largest tick %v; trend total %v of %d",
		backlog, minutes, first, wrong, peak, sum, total)
}

// writeBacklog writes minutes of lines from t0, perMinute(m) in minute m
// (the first at :35, the others at :05), line i of minute m into
// into(m, i), and returns how many it wrote.
func writeBacklog(t0 time.Time, minutes int, perMinute func(int) int, into func(m, i int) *strings.Builder) int {
	n := 0
	for m := range minutes {
		at := t0.Add(time.Duration(m) * time.Minute)
		for i := range perMinute(m) {
			sec := 5 * time.Second
			if i == 0 {
				sec = 35 * time.Second
			}
			into(m, i).WriteString(combinedLine(at.Add(sec)))
		}
		n += perMinute(m)
	}
	return n
}

// startDaemon starts a daemon with cfg; the caller stops it.
func startDaemon(t testing.TB, cfg Config) *Daemon {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		d.Stop()
		t.Fatal(err)
	}
	return d
}

// statusPipe returns a pipes folder holding the built-in status pipe
// (it counts requests).
func statusPipe(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	wasm, err := os.ReadFile("../../pipes-wasm/status.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkOwnTimes reads back from /trend what TestBacklogAtItsOwnTimes and
// TestRestartBacklogAtItsOwnTimes check: the backlog's minutes from t0
// count perMinute lines each, no tick since start counts more than
// maxTick, and the trend counts total in all. It returns the minutes
// counted wrong, the largest tick and the trend's total.
func checkOwnTimes(t *testing.T, d *Daemon, base string, t0 time.Time, minutes int, perMinute func(int) int, start time.Time, tick time.Duration, maxTick, total int) (int, float64, float64) {
	t.Helper()
	if err := d.trend.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// The backlog, minute by minute.
	res := readTrend(t, base, t0, t0.Add(time.Duration(minutes)*time.Minute-time.Millisecond), minutes)
	if res.StepMS != 60_000 || res.First != t0.UnixMilli() {
		t.Fatalf("backlog read: step %d ms from %d, want minutes from %d", res.StepMS, res.First, t0.UnixMilli())
	}
	wrong := 0
	for m, p := range res.Series[0].Points {
		if p.V != float64(perMinute(m)) {
			if wrong++; wrong <= 5 {
				t.Errorf("minute %d of the backlog (%s) counts %v requests, want %d", m, t0.Add(time.Duration(m)*time.Minute).Format(time.TimeOnly), p.V, perMinute(m))
			}
		}
	}
	// The ticks since start, tick by tick.
	n := int(now.Sub(start) / tick)
	res = readTrend(t, base, start, start.Add(time.Duration(n)*tick-time.Millisecond), n)
	peak := 0.0
	for _, p := range res.Series[0].Points {
		if !math.IsNaN(p.V) {
			peak = max(peak, p.V)
		}
	}
	// A tick may take two seconds' lines on a loaded machine; the
	// backlog would be hundreds.
	if peak > float64(maxTick) {
		t.Errorf("a tick counts %v requests, want at most %d (the live lines): a spike", peak, maxTick)
	}
	// Everything, once.
	res = readTrend(t, base, t0.Add(-time.Hour), now, 4)
	sum := 0.0
	for _, p := range res.Series[0].Points {
		if !math.IsNaN(p.V) {
			sum += p.V
		}
	}
	if sum != float64(total) {
		t.Errorf("the trend counts %v requests in all, want %d", sum, total)
	}
	return wrong, peak, sum
}

// combinedLine is one request in nginx's combined format, logged at at.
func combinedLine(at time.Time) string {
	return fmt.Sprintf("10.0.0.1 - - [%s] \"GET /a HTTP/1.1\" 200 100 \"-\" \"test/1.0\"\n", at.UTC().Format("02/Jan/2006:15:04:05 -0700"))
}

// waitRequests polls the tree's requests until it reaches want or timeout
// passes, and returns the last value.
func waitRequests(t *testing.T, base string, want int, timeout time.Duration) int {
	t.Helper()
	got := -1
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var e []map[string]float64
		getJSON(t, base+"/get/requests", &e)
		if len(e) == 1 {
			got = int(e[0]["requests"])
		}
		if got == want {
			break
		}
	}
	return got
}

// readTrend reads requests as counts in points buckets over [from, until].
func readTrend(t *testing.T, base string, from, until time.Time, points int) trend.Result {
	t.Helper()
	var res trend.Result
	q := url.Values{"key": {"requests"}, "as": {"count"}, "points": {strconv.Itoa(points)},
		"from": {from.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}
	getJSON(t, base+"/trend?"+q.Encode(), &res)
	if len(res.Series) != 1 {
		t.Fatalf("/trend?%s: %d series, want 1", q.Encode(), len(res.Series))
	}
	return res
}
