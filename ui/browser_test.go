package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestBrowser drives every page in headless Chromium against a real
// canopyd: live numbers, master-detail zoom, views across a restart, no
// console errors, no request leaving the daemon, screenshots of each page.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	t0 := time.Now()
	phase := func(name string) { t.Logf("setup: %s at %.1f s", name, time.Since(t0).Seconds()) }
	bin := buildDaemon(t)
	phase("canopyd built")
	data := t.TempDir()
	logPath := replayHistory(t, bin, data, 6000)
	phase("history replayed")
	// follow.log is the followed log, empty until a subtest appends to it.
	followed := filepath.Join(data, "follow.log")
	writeTestFile(t, followed, nil)
	d := startDaemon(t, bin, testenv.FreePort(t), data, append(daemonFlags(t, bin), "-log", followed, "-log.format", "main")...)
	phase("canopyd started")
	d.feed(t, logPath)
	phase("log pushed")
	px := newProxy(t, d.addr)
	b := newBrowser(t, px.srv.URL, 1280, 800)
	phase("chromium started")

	t.Run("home", func(t *testing.T) {
		// mix holds counts, bytes, a gauge and a histogram's cumulative
		// buckets: its total adds each unit apart, the gauge and the
		// buckets below +Inf not at all.
		d.push(t, `{"mix": {"hits": 5, "size_bytes": 2048, "avg": {"": 100, "defaultaction": "average"}, "le": {"0.1": 3, "+Inf": 5}, "sum": 1.5}, "defaultaction": "add"}`)
		b.open(t, "/")
		if got := eval[string](t, b, `document.querySelector('main table.data').innerText`); !strings.Contains(got, "br") || !strings.Contains(got, "cpu") {
			t.Errorf("home tree table lacks br and cpu:\n%s", got)
		}
		for _, c := range []struct{ key, want string }{
			{"mix", "10 · 2 KiB · 1.5 s"},
			{"cpu", "—"}, // averages only
			{"br", "71"}, // the seed's 3 + 8 + 40 + 20, plus what the log's browsers counted, checked below
		} {
			got := eval[string](t, b, `document.querySelector('#home-tree tr[data-key="`+c.key+`"] td.total').textContent`)
			if c.key == "br" {
				if n, err := strconv.Atoi(strings.ReplaceAll(got, ",", "")); err != nil || n < 71 {
					t.Errorf("home total of br = %q, want a count of at least 71", got)
				}
				continue
			}
			if got != c.want {
				t.Errorf("home total of %s = %q, want %q", c.key, got, c.want)
			}
		}
		for _, p := range []string{"/", "/realtime/br"} {
			b.open(t, p)
			if txt := eval[string](t, b, `document.body.innerText`); strings.Contains(txt, " AM") || strings.Contains(txt, " PM") || strings.Contains(txt, "one year") {
				t.Errorf("%s shows a 12-hour clock or a range of its own (the daemon's graphs use 24 h):\n%s", p, txt)
			}
		}
		b.open(t, "/")
		b.screenshot(t, "home")
		b.checkClean(t, "/")
	})

	t.Run("overview", func(t *testing.T) { overviewSubtests(t, bin, logPath, b) })
	demoSubtest(t, bin) // browser_demo_test.go

	t.Run("realtime updates in place", func(t *testing.T) {
		b.open(t, "/realtime/br")
		// The cell shows the value with a unit; its data-value is exact.
		cell := `document.querySelector('tr[data-key="br,ie,6"] td.val').dataset.value`
		start := eval[string](t, b, cell)
		v0, err := strconv.Atoi(strings.ReplaceAll(start, ",", ""))
		if err != nil {
			t.Fatalf("br,ie,6 shows %q, want a number", start)
		}
		// A mark on window survives only if the page is not reloaded.
		eval[bool](t, b, `(window.__noReload = true)`)
		for i := 1; i <= 3; i++ {
			d.push(t, `{"br": {"ie": {"6": 10}}, "defaultaction": "add"}`)
			waitJS(t, b, fmt.Sprintf("Number(%s.replace(/,/g, '')) === %d", cell, v0+10*i), 10*time.Second)
		}
		d.push(t, `{"br": {"opera": {"99": 5}}, "defaultaction": "add"}`)
		waitJS(t, b, `!!document.querySelector('tr[data-key="br,opera,99"]')`, 10*time.Second)
		if !eval[bool](t, b, `window.__noReload === true`) {
			t.Errorf("the page reloaded")
		}
		if !eval[bool](t, b, `performance.getEntriesByType('resource').some(r => r.name.includes('/pull/?key=br&since='))`) {
			t.Errorf("the page did not follow the tree with /pull")
		}
		// Sorting by value puts the biggest number first.
		do(t, b, chromedp.Click(`button.sort[data-col="value"]`, chromedp.NodeVisible))
		vals := eval[[]float64](t, b, `[...document.querySelectorAll('#rt-table tbody tr td.val')].map(td => Number(td.dataset.value ?? -Infinity))`)
		for i := 1; i < len(vals); i++ {
			if vals[i] > vals[i-1] {
				t.Errorf("after sorting by value, row %d (%v) is above row %d (%v)", i-1, vals[i-1], i, vals[i])
				break
			}
		}
		b.screenshot(t, "realtime")
		b.checkClean(t, "/realtime/br")
	})

	t.Run("realtime table values carry units", func(t *testing.T) {
		// Bytes by name and by declaration (IEC), a plain number (SI: 400 G
		// is 4e11, never "400B"), seconds declared by the push, a
		// declared unit the name table does not know, and a count.
		d.push(t, `{"rtu": {"size_bytes": 409600, "small_bytes": 400, "big": 4e11, "mem": {"": 1048576, "defaultunit": "KB"},
			"wait": {"": 0.0023, "defaultunit": "sec"}, "conns": {"": 12, "defaultunit": "connections"}}, "defaultaction": "last"}`)
		b.open(t, "/realtime/rtu")
		waitJS(t, b, `document.querySelectorAll('#rt-table tr[data-key^="rtu,"]').length === 6`, 10*time.Second)
		for k, want := range map[string]string{
			"rtu,size_bytes":  "400 KiB",
			"rtu,small_bytes": "400 B",
			"rtu,big":         "400 G",
			"rtu,mem":         "1 GiB",
			"rtu,wait":        "2.3 ms",
			"rtu,conns":       "12 connections",
		} {
			if got := eval[string](t, b, `document.querySelector('tr[data-key="`+k+`"] td.val').textContent`); got != want {
				t.Errorf("realtime table shows %s = %q, want %q", k, got, want)
			}
		}
		// The change is in the same unit.
		d.push(t, `{"rtu": {"small_bytes": 500}}`)
		waitJS(t, b, `document.querySelector('tr[data-key="rtu,small_bytes"] td.delta').textContent === '+100 B'`, 10*time.Second)
		b.checkClean(t, "/realtime/rtu")
	})

	t.Run("realtime chart appends a point every tick", func(t *testing.T) {
		// live,hits is a counter (add), live,temp a gauge (last): the chart
		// draws the first as a rate, the second as it is.
		d.push(t, `{"live": {"hits": 0, "temp": {"": 20, "defaultaction": "last"}}, "defaultaction": "add"}`)
		b.open(t, "/realtime/live")
		points := `Number(document.querySelector('#rt-chart').dataset.points || 0)`
		// A hash of the canvas's pixels: the chart must be repainted, not only its data changed.
		pixels := `(() => { const s = document.querySelector('#rt-chart canvas').toDataURL(); let h = 0; for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0; return String(h); })()`
		p0 := eval[float64](t, b, points)
		images := map[string]bool{eval[string](t, b, pixels): true}
		end := time.Now().Add(30 * time.Second)
		for i := 1; time.Now().Before(end); i++ {
			d.push(t, fmt.Sprintf(`{"live": {"hits": 10, "temp": %d}}`, 20+i%5))
			time.Sleep(time.Second)
			images[eval[string](t, b, pixels)] = true
		}
		p1 := eval[float64](t, b, points)
		t.Logf("/realtime/live: %.0f points drawn at the start, %.0f after 30 s of pushes; %d different images; tick %s",
			p0, p1, len(images), eval[string](t, b, `document.querySelector('#rt-tick').textContent`))
		if p1-p0 < 3 {
			t.Errorf("after 30 s of live pushes the chart drew %.0f new points, want at least 3", p1-p0)
		}
		if len(images) < 4 {
			t.Errorf("the chart's canvas was painted %d different ways in 30 s, want at least 4", len(images))
		}
		type drawnSeries struct {
			Label string
			Vals  []*float64
		}
		series := eval[[]drawnSeries](t, b, `canopy.charts[0].series.slice(1).map((s, i) => ({label: s.label, vals: canopy.charts[0].data[i + 1]}))`)
		total := eval[string](t, b, `document.querySelector('tr[data-key="live,hits"] td.val').dataset.value`)
		for _, s := range series {
			var vals []float64
			for _, v := range s.Vals {
				if v != nil {
					vals = append(vals, *v)
				}
			}
			t.Logf("series %q: %v", s.Label, vals)
			switch s.Label {
			case "live,hits /s":
				// 10 a second: a rate near 10, never the running total (300 and up).
				if len(vals) < 3 {
					t.Errorf("%s has %d points", s.Label, len(vals))
				}
				for _, v := range vals {
					if v > 40 {
						t.Errorf("%s drew %v: not a per-second rate (the total shows %s)", s.Label, v, total)
						break
					}
				}
			case "live,temp":
				for _, v := range vals {
					if v < 20 || v > 24 {
						t.Errorf("%s drew %v, want the gauge's values 20..24", s.Label, v)
						break
					}
				}
			default:
				t.Errorf("unexpected series %q (want live,hits /s and live,temp)", s.Label)
			}
		}
		// Only the cell whose value changed is marked: temp pushed the same
		// value again stays unmarked.
		cur := eval[string](t, b, `document.querySelector('tr[data-key="live,temp"] td.val').dataset.value`)
		time.Sleep(time.Second) // earlier marks fade
		d.push(t, fmt.Sprintf(`{"live": {"hits": 10, "temp": %s}}`, cur))
		waitJS(t, b, `document.querySelector('tr[data-key="live,hits"]').classList.contains('chg')`, 5*time.Second)
		if eval[bool](t, b, `document.querySelector('tr[data-key="live,temp"]').classList.contains('chg')`) {
			t.Errorf("live,temp is marked changed though its value stayed %s", cur)
		}
		b.screenshot(t, "realtime-live")
		b.checkClean(t, "/realtime/live")
	})

	t.Run("realtime chart leaves a replay out", func(t *testing.T) {
		// A replay merges three days of the log into the live tree within a
		// second; drawn as now it would be a spike of thousands a second.
		body, _ := json.Marshal(map[string]any{"files": []string{logPath}})
		checkBacklogLeftOut(t, b, "replay", func() {
			r, err := http.Post("http://"+d.addr+"/replay", "application/json", strings.NewReader(string(body)))
			if err != nil {
				t.Fatalf("POST /replay: %v", err)
			}
			r.Body.Close()
			if r.StatusCode != http.StatusAccepted {
				t.Fatalf("POST /replay answered %d", r.StatusCode)
			}
		})
	})

	t.Run("realtime chart leaves a followed backlog out", func(t *testing.T) {
		// Old lines appended to the followed log in one write are read
		// within a tick: behind_bytes is 0 again when the page samples,
		// and only ingest.late_lines says the tick merged a backlog.
		old := filepath.Join(t.TempDir(), "old.log")
		runCmd(t, bin, "gen", "-n", "3000", "-format", "main", "-seed", "11", "-start", time.Now().Add(-3*time.Hour).UTC().Format(time.RFC3339), "-span", "30m", "-o", old)
		backlog, err := os.ReadFile(old)
		if err != nil {
			t.Fatal(err)
		}
		checkBacklogLeftOut(t, b, "followed backlog", func() {
			f, err := os.OpenFile(followed, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(backlog); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("view survives restart", func(t *testing.T) {
		b.open(t, "/setting/view")
		do(t, b,
			chromedp.SendKeys(`#view-name`, "browsers"),
			chromedp.SendKeys(`#view-keys`, "br,ie\ncpu"),
			chromedp.SetValue(`#view-chart`, "area"),
			chromedp.Click(`#view-save`, chromedp.NodeVisible),
		)
		waitJS(t, b, `!!document.querySelector('tr[data-view="browsers"]')`, 10*time.Second)
		b.screenshot(t, "settings")
		b.checkClean(t, "/setting/view")

		check := func(when string) {
			b.open(t, "/realtime/view/browsers")
			keys := eval[[]string](t, b, `[...document.querySelectorAll('#rt-table tbody tr[data-key]')].map(r => r.dataset.key)`)
			joined := strings.Join(keys, " ")
			for _, want := range []string{"br,ie,6", "br,ie,7,venders,sogou", "cpu,10.3.1.12,user"} {
				if !strings.Contains(joined, want) {
					t.Errorf("%s: /realtime/view/browsers lacks %s; rows: %v", when, want, keys)
				}
			}
			if strings.Contains(joined, "br,webkit") {
				t.Errorf("%s: the view shows br,webkit, which it does not name", when)
			}
		}
		check("before restart")
		b.screenshot(t, "realtime-view")
		b.checkClean(t, "/realtime/view/browsers")
		// Leave the page first: a live page sees the daemon go away, and the
		// browser reports its failed requests as console errors.
		do(t, b, chromedp.Navigate("about:blank"))
		d.restart(t)
		check("after restart")
		b.checkClean(t, "/realtime/view/browsers after restart")
	})

	t.Run("overview drag zooms the detail chart", func(t *testing.T) {
		b.open(t, "/trend/view/?key=synthetic,a&key=synthetic,b")
		waitJS(t, b, `canopy.charts.length === 2 && canopy.charts.every(c => c.detail && c.detail.data[0].length > 0)`, 10*time.Second)
		before := eval[[]float64](t, b, `[canopy.charts[0].detail.scales.x.min, canopy.charts[0].detail.scales.x.max]`)
		box := eval[[]float64](t, b, `(() => { const r = canopy.charts[0].overview.over.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
		x1, x2, y := box[0]+box[2]*0.55, box[0]+box[2]*0.8, box[1]+box[3]/2
		do(t, b, drag(x1, x2, y)...)
		after := eval[[]float64](t, b, `[canopy.charts[0].detail.scales.x.min, canopy.charts[0].detail.scales.x.max]`)
		t.Logf("detail range before %v, after %v (s)", before, after)
		if !(after[0] > before[0] && after[1] < before[1]) {
			t.Errorf("detail range %v did not narrow inside %v after the drag", after, before)
		}
		span, full := after[1]-after[0], before[1]-before[0]
		if r := span / full; r < 0.15 || r > 0.35 {
			t.Errorf("detail shows %.2f of the full range, want about 0.25 (the dragged part)", r)
		}
		// The second chart keeps its own range.
		other := eval[[]float64](t, b, `[canopy.charts[1].detail.scales.x.min, canopy.charts[1].detail.scales.x.max]`)
		if other[1]-other[0] < full*0.9 {
			t.Errorf("the other chart's range changed too: %v", other)
		}
		b.screenshot(t, "trend-explorer")
		b.checkClean(t, "/trend/view/")
	})

	t.Run("explorer tree and search", func(t *testing.T) {
		b.open(t, "/trend/view/")
		do(t, b, chromedp.Click(`#tree button.caret[aria-label="Expand br"]`, chromedp.NodeVisible))
		waitJS(t, b, `!!document.querySelector('#tree button.node[data-key="br,ie"]')`, 5*time.Second)
		do(t, b, chromedp.SendKeys(`#tree-search`, "sogou"))
		waitJS(t, b, `!!document.querySelector('#tree-results button.node[data-key="br,ie,7,venders,sogou"]')`, 5*time.Second)
		b.screenshot(t, "trend-explorer-search")
		b.checkClean(t, "/trend/view/ search")
	})

	t.Run("trend view compares a week earlier", func(t *testing.T) {
		// A view on synthetic keys: the proxy serves their history for any
		// range, so the shifted series has data whatever the store holds.
		putView(t, d, `{"name":"synth","keys":["synthetic,a","synthetic,b"],"chart":"line","range":"-1d"}`)
		b.open(t, "/trend/view/synth")
		links := eval[[]string](t, b, `[...document.querySelectorAll('#graph-links a')].map(a => a.getAttribute('href'))`)
		if len(links) != 3 || !strings.HasPrefix(links[0], "/graph/synth.png") || !strings.HasPrefix(links[2], "/graph/synth.pdf") {
			t.Errorf("graph links: %v", links)
		}
		do(t, b, chromedp.SetValue(`#tv-shift`, "604800"))
		eval[bool](t, b, `(document.querySelector('#tv-shift').dispatchEvent(new Event('change')), true)`)
		waitJS(t, b, `canopy.charts[0].series.filter(s => / \(1 week earlier\)$/.test(s.label || '')).length === 2`, 10*time.Second)
		// Dragging across the chart zooms it; Reset zoom shows the range again.
		full := eval[[]float64](t, b, `[canopy.charts[0].scales.x.min, canopy.charts[0].scales.x.max]`)
		box := eval[[]float64](t, b, `(() => { const r = canopy.charts[0].over.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
		do(t, b, drag(box[0]+box[2]*0.2, box[0]+box[2]*0.4, box[1]+box[3]/2)...)
		zoomed := eval[[]float64](t, b, `[canopy.charts[0].scales.x.min, canopy.charts[0].scales.x.max]`)
		if r := (zoomed[1] - zoomed[0]) / (full[1] - full[0]); r < 0.1 || r > 0.3 {
			t.Errorf("after dragging a fifth of the chart it shows %.2f of the range (%v of %v)", r, zoomed, full)
		}
		do(t, b, chromedp.Click(`#zoom-reset`, chromedp.NodeVisible))
		if again := eval[[]float64](t, b, `[canopy.charts[0].scales.x.min, canopy.charts[0].scales.x.max]`); again[1]-again[0] < (full[1]-full[0])*0.99 {
			t.Errorf("Reset zoom shows %v, want the full range %v", again, full)
		}
		b.screenshot(t, "trend-view")
		b.checkClean(t, "/trend/view/synth")
	})

	t.Run("trend view of real history", func(t *testing.T) {
		// History replayed from the generated log: requests and the status
		// codes, and br,ie, whose node has no number (its children's history).
		putView(t, d, `{"name":"traffic","keys":["requests","status,*","br,ie"],"chart":"line","range":"-7d"}`)
		b.open(t, "/trend/view/traffic")
		b.screenshot(t, "trend-view-real")
		b.checkClean(t, "/trend/view/traffic")
		labels := eval[[]string](t, b, `canopy.charts[0].series.slice(1).map(s => s.label)`)
		points := eval[float64](t, b, `canopy.charts[0].data.slice(1).reduce((a, ys) => a + ys.filter(v => v != null).length, 0)`)
		t.Logf("/trend/view/traffic: %d series, %.0f points: %v", len(labels), points, labels)
		joined := strings.Join(labels, " ")
		for _, want := range []string{"requests", "status,200", "br,ie,"} {
			if !strings.Contains(joined, want) {
				t.Errorf("no %s series from the daemon's trend store; series: %v", want, labels)
			}
		}
		if points < 20 {
			t.Errorf("only %.0f points of history drawn", points)
		}
		// The seed's marker (cpu,10.3.1.12,marker) comes back with the CPU
		// series and is drawn on the explorer's detail chart.
		b.open(t, "/trend/view/?key=cpu,10.3.1.12,*&range=-1h")
		note := eval[string](t, b, `document.querySelector('.chart-card .hint').textContent`)
		if !strings.Contains(note, "1 marker") {
			t.Errorf("explorer note = %q, want the seed's marker counted", note)
		}
		b.screenshot(t, "trend-explorer-markers")
		b.checkClean(t, "/trend/view/ markers")
	})

	historySubtests(t, d, b)  // browser_history_test.go
	explorerSubtests(t, d, b) // browser_explorer_test.go

	t.Run("edit and delete views", func(t *testing.T) {
		putView(t, d, `{"name":"scratch","keys":["br"]}`)
		putView(t, d, `{"name":"synth","keys":["synthetic,a","synthetic,b"],"chart":"line","range":"-1d"}`)
		b.open(t, "/setting/view")
		do(t, b,
			chromedp.Click(`button[aria-label="Edit view synth"]`, chromedp.NodeVisible),
			chromedp.SetValue(`#view-chart`, "bar"),
			chromedp.Click(`#view-save`, chromedp.NodeVisible),
		)
		waitJS(t, b, `document.querySelector('tr[data-view="synth"] td:nth-child(3)').textContent === 'bar'`, 10*time.Second)
		// Delete takes two clicks: the first arms the button.
		del := `button[aria-label="Delete view scratch"]`
		do(t, b, chromedp.Click(del, chromedp.NodeVisible))
		if got := eval[string](t, b, `document.querySelector('`+del+`').textContent`); got != "Confirm delete" {
			t.Errorf("after one click the delete button says %q", got)
		}
		do(t, b, chromedp.Click(del, chromedp.NodeVisible))
		waitJS(t, b, `!document.querySelector('tr[data-view="scratch"]')`, 10*time.Second)
		if code := httpCode(t, "GET", "http://"+d.addr+"/api/views/scratch", ""); code != 404 {
			t.Errorf("deleted view still served: %d", code)
		}
		b.checkClean(t, "/setting/view edit+delete")
	})

	t.Run("dark theme and phone width", func(t *testing.T) {
		b.open(t, "/")
		do(t, b, chromedp.Click(`#theme-toggle`, chromedp.NodeVisible))
		if got := eval[string](t, b, `document.documentElement.dataset.theme`); got != "dark" {
			t.Errorf("theme after toggle = %q, want dark", got)
		}
		for _, p := range []struct{ path, name string }{
			{"/trend/view/?key=synthetic,a", "trend-explorer-dark"},
			{"/realtime/br", "realtime-dark"},
		} {
			b.open(t, p.path)
			b.screenshot(t, p.name)
			b.checkClean(t, p.path)
		}
		do(t, b, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		defer do(t, b, chromedp.EmulateViewport(1280, 800))
		for _, p := range []struct{ path, name string }{
			{"/", "phone-home"},
			{"/realtime/br", "phone-realtime"},
			{"/setting/view", "phone-settings"},
			{"/trend/view/?key=synthetic,a", "phone-trend-explorer"},
			{"/trend/view/synth", "phone-trend-view"},
		} {
			b.open(t, p.path)
			if w := eval[float64](t, b, `document.documentElement.scrollWidth`); w > 392 {
				t.Errorf("%s is %.0f px wide at a 390 px phone width (scrolls sideways)", p.path, w)
			}
			b.screenshot(t, p.name)
			b.checkClean(t, p.path)
		}
		do(t, b, chromedp.Click(`#theme-toggle`, chromedp.NodeVisible))
	})

	t.Run("keyboard reaches the controls", func(t *testing.T) {
		b.open(t, "/setting/view")
		// Tab through the page; every control must be reachable.
		seen := map[string]bool{}
		for i := 0; i < 40; i++ {
			do(t, b, chromedp.KeyEvent("\t"))
			id := eval[string](t, b, `document.activeElement.id || document.activeElement.getAttribute('aria-label') || document.activeElement.textContent`)
			seen[id] = true
		}
		for _, want := range []string{"theme-toggle", "view-name", "view-keys", "view-chart", "view-range", "view-save", "token"} {
			if !seen[want] {
				t.Errorf("tabbing never reached #%s; reached %v", want, seen)
			}
		}
		b.checkClean(t, "/setting/view keyboard")
	})

	t.Run("perf explorer 20x2000", func(t *testing.T) {
		var ms float64
		var n int
		busy, prof := profileLoad(t, b, func() { ms, n = explorerLoad(t, b, 20) })
		if os.Getenv("CANOPY_UI_PROFILE") != "" {
			t.Log(prof)
		}
		t.Logf("/trend/view/ with 20 series x 2,000 points: interactive after %.0f ms, page busy %.0f ms (%d points drawn)", ms, busy, n)
		b.screenshot(t, "trend-explorer-20x2000")
		b.checkClean(t, "/trend/view/ 20x2000")
	})

	t.Run("realtime heap stays flat (short)", func(t *testing.T) {
		// The 60 s run is `go tool -modfile=tools/go.mod task bench:ui`; CI runs 12 s.
		r := realtimeSoak(t, b, d, 20, 12*time.Second)
		t.Logf("realtime at 20 updates/s for 12 s: %s", r)
		if growth := r.heapEnd - r.heapStart; growth > 1e6 {
			t.Errorf("JS heap grew %.0f KB in 12 s at 20 updates/s", growth/1e3)
		}
		if r.nodesEnd > r.nodesStart+5 {
			t.Errorf("DOM grew from %d to %d elements", r.nodesStart, r.nodesEnd)
		}
		if r.updates < r.pushes/4 {
			t.Errorf("the page applied %d updates for %d pushes", r.updates, r.pushes)
		}
		b.screenshot(t, "realtime-soak")
		b.checkClean(t, "/realtime/soak")
	})

	t.Run("not found", func(t *testing.T) {
		b.open(t, "/realtime/view/nope")
		if got := eval[string](t, b, `document.querySelector('.msg.error').textContent`); !strings.Contains(got, "nope") {
			t.Errorf("missing view message = %q", got)
		}
		b.checkClean(t, "/realtime/view/nope")
		// The daemon's own error pages: HTML in the UI's look and theme,
		// with a way back, for a browser.
		bg := map[string]string{"light": "rgb(246, 247, 249)", "dark": "rgb(18, 21, 27)"}
		for _, c := range []struct {
			path string
			code int
			msg  string
		}{
			{"/no/such/page", 404, "no route GET /no/such/page"},
			{"/ui/nope.js", 404, `no UI file "nope.js"`},
			{"/realtime/", 404, "needs a key"},
			{"/trend?key=x&points=0", 400, "want a positive number"},
		} {
			for _, theme := range []string{"light", "dark"} {
				eval[bool](t, b, `(localStorage.setItem('canopy.theme', '`+theme+`'), true)`)
				do(t, b, chromedp.Navigate(b.origin+c.path))
				type page struct {
					Status            int
					H1, Msg, Back, BG string
					Nav               int
				}
				p := eval[page](t, b, `({status: performance.getEntriesByType('navigation')[0].responseStatus,
					h1: document.querySelector('h1')?.textContent || '', msg: document.querySelector('p.msg')?.textContent || '',
					back: document.querySelector('a.back')?.getAttribute('href') || '', bg: getComputedStyle(document.body).backgroundColor,
					nav: document.querySelectorAll('header.top nav a').length})`)
				if p.Status != c.code || !strings.HasPrefix(p.H1, strconv.Itoa(c.code)) || !strings.Contains(p.Msg, c.msg) || p.Back != "/" || p.Nav != 3 {
					t.Errorf("%s (%s): %+v, want a %d page saying %q with the UI's header and a link back to /", c.path, theme, p, c.code, c.msg)
				}
				if p.BG != bg[theme] {
					t.Errorf("%s in the %s theme has background %s, want the UI's %s", c.path, theme, p.BG, bg[theme])
				}
				b.screenshot(t, fmt.Sprintf("error-%d-%s", c.code, theme))
			}
		}
		// The way back leads home; scripts get JSON for the same errors.
		do(t, b, chromedp.Click(`a.back`, chromedp.NodeVisible))
		home := false
		for deadline := time.Now().Add(10 * time.Second); !home && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			// The page is being replaced: an evaluation may fail until it is.
			v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!(window.canopy && canopy.ready === true && canopy.page === 'home')`))
			home = err == nil && v
		}
		if !home {
			t.Fatalf("the error page's link back did not lead to the home page")
		}
		eval[bool](t, b, `(localStorage.setItem('canopy.theme', 'light'), true)`)
		for _, path := range []string{"/no/such/page", "/ui/nope.js", "/trend?key=x&points=0"} {
			got := eval[string](t, b, `fetch('`+path+`').then(async r => r.status + ' ' + r.headers.get('content-type') + ' ' + ((await r.json()).error || ''))`)
			if !strings.Contains(got, " application/json") || !strings.HasPrefix(got, "40") {
				t.Errorf("fetch %s = %q, want a 4xx JSON error", path, got)
			}
		}
		// The browser reports each 4xx it loaded; those were the point here.
		errs, ext := b.takeErrors()
		for _, e := range errs {
			if !strings.Contains(e, "status of 40") {
				t.Errorf("console: %s", e)
			}
		}
		for _, u := range ext {
			t.Errorf("request outside the daemon: %s", u)
		}
	})

	t.Run("views per token with auth on", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "canopyd.yaml")
		if err := os.WriteFile(conf, []byte("tokens:\n  - {name: alice, token: tok-a, scopes: [read, write]}\n  - {name: bob, token: tok-b, scopes: [read, write]}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		d.args = append(d.args, "-config", conf)
		do(t, b, chromedp.Navigate("about:blank"))
		d.restart(t)
		// The page loads without a token; its API calls need one.
		if code := httpCode(t, "GET", "http://"+d.addr+"/setting/view", ""); code != 200 {
			t.Errorf("GET /setting/view without a token = %d, want 200", code)
		}
		if code := httpCode(t, "GET", "http://"+d.addr+"/api/views", ""); code != 401 {
			t.Errorf("GET /api/views without a token = %d, want 401", code)
		}
		// alice signs in with a link carrying her token, saves a view; bob
		// does not see it, and neither sees the shared views.
		b.open(t, "/setting/view?access_token=tok-a")
		if got := eval[string](t, b, `location.search`); got != "" {
			t.Errorf("the token stayed in the address bar: %q", got)
		}
		do(t, b,
			chromedp.SendKeys(`#view-name`, "alices"),
			chromedp.SendKeys(`#view-keys`, "status,*"),
			chromedp.Click(`#view-save`, chromedp.NodeVisible),
		)
		waitJS(t, b, `!!document.querySelector('tr[data-view="alices"]')`, 10*time.Second)
		if eval[bool](t, b, `!!document.querySelector('tr[data-view="browsers"]')`) {
			t.Errorf("alice sees the shared view browsers")
		}
		b.screenshot(t, "settings-alice")
		b.checkClean(t, "/setting/view as alice")
		b.open(t, "/setting/view?access_token=tok-b")
		if eval[bool](t, b, `!!document.querySelector('tr[data-view="alices"]')`) {
			t.Errorf("bob sees alice's view")
		}
		b.open(t, "/realtime/view/alices?access_token=tok-a")
		waitJS(t, b, `!!document.querySelector('#rt-table tr[data-key="status,200"]')`, 10*time.Second)
		b.checkClean(t, "/realtime/view/alices as alice")
	})

}

func httpCode(t testing.TB, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	r.Body.Close()
	return r.StatusCode
}

// putView saves a view through the daemon's API.
func putView(t testing.TB, d *daemon, body string) {
	t.Helper()
	var v struct{ Name string }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", "http://"+d.addr+"/api/views/"+v.Name, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT view: %v", err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("PUT view %s answered %d", v.Name, r.StatusCode)
	}
}

// drag presses the left button at (x1, y), moves to (x2, y) and releases.
func drag(x1, x2, y float64) []chromedp.Action[chromedp.Void] {
	held := func(p *input.DispatchMouseEventParams) {
		p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
	}
	return []chromedp.Action[chromedp.Void]{
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x1, y, held),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, (x1+x2)/2, y, held),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x2, y, held),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x2, y, held),
	}
}

// explorerLoad opens /trend/view/ with n synthetic keys of 2,000 points and
// returns the time from navigation start until every chart is painted and
// the main thread is free for input (ms), and the number of points drawn.
func explorerLoad(t testing.TB, b *browser, n int) (float64, int) {
	var q []string
	for i := 0; i < n; i++ {
		q = append(q, fmt.Sprintf("key=synthetic,s%02d", i))
	}
	b.open(t, "/trend/view/?"+strings.Join(q, "&"))
	ms := eval[float64](t, b, `canopy.timings.interactive`)
	points := eval[float64](t, b, `canopy.charts.reduce((a, c) => a + (c.detail ? c.detail.data[1].length : 0), 0)`)
	t.Logf("explorer timeline (ms from navigation start): %s", eval[string](t, b, `JSON.stringify({
		script: Math.round(canopy.timings.explorerStart),
		lastFetch: Math.round(Math.max(...canopy.charts.map(c => c.fetched))),
		lastDraw: Math.round(Math.max(...canopy.charts.map(c => c.drawn))),
		tree: Math.round(canopy.timings.tree),
		drawn: Math.round(canopy.timings.drawn),
		frame: Math.round(canopy.timings.frame),
		interactive: Math.round(canopy.timings.interactive)})`))
	if int(points) != n*2000 {
		t.Errorf("drew %v points, want %d", points, n*2000)
	}
	return ms, int(points)
}

// checkBacklogLeftOut opens /realtime/requests, lets it draw quiet ticks,
// merges a backlog with merge and checks that no drawn rate is the backlog
// drawn as traffic now, while the quiet ticks around it are drawn.
func checkBacklogLeftOut(t *testing.T, b *browser, what string, merge func()) {
	t.Helper()
	const value = `document.querySelector('tr[data-key="requests"] td.val').dataset.value`
	b.open(t, "/realtime/requests")
	waitJS(t, b, `canopy.live.ts.length >= 4`, 10*time.Second) // quiet ticks before it
	before := eval[string](t, b, value)
	merge()
	waitJS(t, b, value+` !== `+strconv.Quote(before), 30*time.Second)
	time.Sleep(6 * time.Second) // and after it
	after := eval[string](t, b, value)
	rates := eval[[]*float64](t, b, `canopy.charts[0].data[1]`)
	var drawn []float64
	for _, v := range rates {
		if v != nil {
			drawn = append(drawn, *v)
			if *v > 100 {
				t.Errorf("the %s (requests %s -> %s) is drawn as %v requests/s now", what, before, after, *v)
			}
		}
	}
	t.Logf("requests %s -> %s after the %s; drawn rates %v; ticks left out %v", before, after, what, drawn, eval[[]bool](t, b, `canopy.live.noted`))
	if len(drawn) < 4 {
		t.Errorf("the chart drew %d points around the %s, want the quiet ticks drawn", len(drawn), what)
	}
	b.checkClean(t, "/realtime/requests "+what)
}
