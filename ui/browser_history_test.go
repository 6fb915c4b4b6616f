package ui

// The history pages as a user sees them (issue 19): keys of any spelling,
// one panel per key whatever the others do, gaps drawn as gaps, units,
// top N plus "other", counted search results and percentiles. Run by
// TestBrowser on its daemon and browser.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// historyKeys are the pushed keys' names as the tree spells them.
const (
	urlName  = "/a/b c%d ünï"       // a path with a slash, a space, a % and non-ASCII
	urlKey   = "url,/a/b c%25d ünï" // % is escaped in keys
	bytesKey = "hosts,bytes,10.0.0.1"
	gapKey   = "gaps,a"
)

// trendSeries reads /trend?key=K&… from the daemon.
func trendSeries(t testing.TB, d *daemon, key, extra string) []struct {
	Key    string
	Points [][2]*float64
} {
	t.Helper()
	r, err := http.Get("http://" + d.addr + "/trend?key=" + url.QueryEscape(key) + "&from=-5m" + extra)
	if err != nil {
		t.Fatalf("trend %s: %v", key, err)
	}
	defer r.Body.Close()
	var res struct {
		Series []struct {
			Key    string
			Points [][2]*float64
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
		t.Fatalf("trend %s: %v", key, err)
	}
	return res.Series
}

// bytesRate is a value in bytes per second as the UI writes it.
var bytesRate = regexp.MustCompile(`^[0-9.]+ (B|KiB|MiB|GiB)/s$`)

// trendUnit is the unit /trend gives key's first series.
func trendUnit(t testing.TB, d *daemon, key, extra string) string {
	t.Helper()
	r, err := http.Get("http://" + d.addr + "/trend?key=" + url.QueryEscape(key) + "&from=-5m" + extra)
	if err != nil {
		t.Fatalf("trend %s: %v", key, err)
	}
	defer r.Body.Close()
	var res struct{ Series []struct{ Unit string } }
	if err := json.NewDecoder(r.Body).Decode(&res); err != nil || len(res.Series) == 0 {
		t.Fatalf("trend %s: %v, %d series", key, err, len(res.Series))
	}
	return res.Series[0].Unit
}

// waitTrend waits until /trend has at least n non-null points for key.
func waitTrend(t testing.TB, d *daemon, key, extra string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := 0
		for _, s := range trendSeries(t, d, key, extra) {
			for _, p := range s.Points {
				if p[1] != nil {
					got++
				}
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/trend?key=%s%s has %d points after 20 s, want %d", key, extra, got, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func historySubtests(t *testing.T, d *daemon, b *browser) {
	// The pushes: counters twice (a rate needs two totals), 100 gauges for
	// top N, 250 keys for a capped search, le buckets, a gauge pushed,
	// left silent past its stale time, then pushed again, and a gauge
	// pushed once (lone,x, for browser_explorer_test.go).
	var wide, many []string
	for i := 0; i < 100; i++ {
		wide = append(wide, fmt.Sprintf(`"s%03d": %d`, i, i+1))
	}
	for i := 0; i < 250; i++ {
		many = append(many, fmt.Sprintf(`"k%03d": 1`, i))
	}
	name, _ := json.Marshal(urlName)
	counters := func(n int) string {
		// hosts,bytes declares its unit as an agent module does (the
		// hosts pipe's units file says the same).
		return fmt.Sprintf(`{"url": {%s: %d}, "hosts": {"bytes": {"10.0.0.1": %d, "defaultunit": "bytes"}},
			"reqtime": {"le": {"0.05": %d, "0.1": %d, "0.5": %d, "1": %d, "+Inf": %d}}, "defaultaction": "add"}`,
			name, n, n*3000000, n, 5*n, 9*n, 10*n, 10*n)
	}
	d.push(t, `[`+counters(1)+`, {"wide": {`+strings.Join(wide, ",")+`}, "many": {`+strings.Join(many, ",")+`}, "gaps": {"a": 5}, "lone": {"x": 5}, "defaultaction": "average"}]`)
	time.Sleep(2500 * time.Millisecond)
	d.push(t, counters(2))
	// gaps,a stops two ticks (2 s) after its sample: 6 s of silence.
	time.Sleep(6 * time.Second)
	d.push(t, `{"gaps": {"a": 7}, "defaultaction": "average"}`)
	waitTrend(t, d, gapKey, "", 2)
	waitTrend(t, d, urlKey, "", 1)
	waitTrend(t, d, bytesKey, "", 1)

	t.Run("url key with / % space and non-ASCII has points", func(t *testing.T) {
		b.open(t, "/trend/view/?range=-5m&key="+url.QueryEscape(urlKey))
		sel := fmt.Sprintf(`[...document.querySelectorAll('.chart-card')].find(c => c.dataset.key === %q)`, urlKey)
		waitJS(t, b, sel+`?.dataset.state === 'drawn'`, 10*time.Second)
		n := eval[float64](t, b, `canopy.charts[0].detail.data.slice(1).reduce((a, ys) => a + ys.filter(v => v != null).length, 0)`)
		if n < 1 {
			t.Errorf("the explorer's chart of %s has no points", urlKey)
		}
		// The one-chart page, reached by the card's "open" link.
		href := eval[string](t, b, sel+`.querySelector('a[title^="One chart"]').getAttribute('href')`)
		b.open(t, href+"?range=-5m")
		n = eval[float64](t, b, `canopy.charts[0].data.slice(1).reduce((a, ys) => a + ys.filter(v => v != null).length, 0)`)
		if n < 1 {
			t.Errorf("%s (the trend view of %s) draws no points; missing: %s", href, urlKey, eval[string](t, b, `document.querySelector('#tv-missing').textContent`))
		}
		b.checkClean(t, "url key")
	})

	t.Run("a bad key leaves the other panels drawn", func(t *testing.T) {
		b.open(t, "/trend/view/?range=-7d&key=requests&key=no,such,key&key=bad%5Bkey")
		waitJS(t, b, `[...document.querySelectorAll('.chart-card')].every(c => c.dataset.state)`, 10*time.Second)
		states := eval[map[string]string](t, b, `Object.fromEntries([...document.querySelectorAll('.chart-card')].map(c => [c.dataset.key, c.dataset.state + ': ' + c.querySelector('.detail + .overview + p').textContent]))`)
		t.Logf("panels: %v", states)
		if !strings.HasPrefix(states["requests"], "drawn") {
			t.Errorf("requests panel: %q, want drawn", states["requests"])
		}
		if !strings.Contains(states["no,such,key"], "no data for no,such,key") {
			t.Errorf("no,such,key panel: %q, want \"no data for no,such,key\"", states["no,such,key"])
		}
		if !strings.HasPrefix(states["bad[key"], "error") && !strings.HasPrefix(states["bad[key"], "empty") {
			t.Errorf("bad[key panel: %q, want its own error", states["bad[key"])
		}
		// A saved view: the chart draws the good key, the bad one is named.
		putView(t, d, `{"name":"onebad","keys":["requests","no,such,key"],"chart":"line","range":"-7d"}`)
		b.open(t, "/trend/view/onebad")
		if got := eval[string](t, b, `document.querySelector('#tv-missing [data-key="no,such,key"]')?.textContent || ''`); !strings.Contains(got, "no data for no,such,key") {
			t.Errorf("view onebad names the bad key as %q", got)
		}
		if n := eval[float64](t, b, `canopy.charts[0].data.slice(1).reduce((a, ys) => a + ys.filter(v => v != null).length, 0)`); n < 1 {
			t.Errorf("view onebad draws no points of requests")
		}
		// The browser logs the 400 of bad[key as a console error; nothing else may show.
		errs, ext := b.takeErrors()
		for _, e := range errs {
			if !strings.Contains(e, "bad%5Bkey") {
				t.Errorf("bad key: console: %s", e)
			}
		}
		for _, u := range ext {
			t.Errorf("bad key: request outside the daemon: %s", u)
		}
	})

	t.Run("a series pushed once then silent shows a gap", func(t *testing.T) {
		// Where the data has nulls between two values, the drawn line must
		// leave the canvas empty: no pixel of the series' colour. The
		// second sample reaches the read window with the tick's flush
		// after it, so the page is opened again until it is there.
		var res map[string]any
		for try := 0; try < 10; try++ {
			b.open(t, "/trend/view/?range=-5m&key="+gapKey)
			waitJS(t, b, `canopy.charts[0]?.el.dataset.state === 'drawn'`, 10*time.Second)
			if res = eval[map[string]any](t, b, gapProbe); res["nulls"] == true {
				break
			}
			time.Sleep(time.Second)
		}
		t.Logf("gap: %v", res)
		if res["nulls"] != true {
			t.Fatalf("the chart's data has no nulls between the two samples: %v", res)
		}
		if res["covered"] != true {
			t.Errorf("uPlot's drawn path has no gap between the samples (px %v-%v): gaps %v", res["from"], res["to"], res["gaps"])
		}
		if res["inked"].(float64) > 0 {
			t.Errorf("%v pixels of the line drawn in the middle of the gap: a ramp", res["inked"])
		}
		b.screenshot(t, "trend-explorer-gap")
		b.checkClean(t, "gap")
	})

	t.Run("a bytes series shows a bytes unit", func(t *testing.T) {
		b.open(t, "/trend/view/?range=-5m&key="+bytesKey)
		waitJS(t, b, `canopy.charts[0]?.el.dataset.state === 'drawn'`, 10*time.Second)
		// /trend says the unit: hosts,bytes is declared in bytes, a
		// counter read per second.
		if u := trendUnit(t, d, bytesKey, ""); u != "B/s" {
			t.Errorf("/trend gives %s the unit %q, want B/s", bytesKey, u)
		}
		// Off the chart the legend shows the latest value with its unit, not "—".
		offLegend := `canopy.charts[0].detail.root.querySelectorAll('.u-legend .u-series')[1].querySelector('.u-value').textContent`
		if off := eval[string](t, b, offLegend); !bytesRate.MatchString(off) {
			t.Errorf("with the cursor off the chart the legend of %s shows %q, want the latest value in B/s", bytesKey, off)
		}
		// The legend shows the value under the cursor: put it on a point.
		legend := eval[string](t, b, `(() => {
			const u = canopy.charts[0].detail, ys = u.data[1];
			let i = ys.length - 1; while (i > 0 && ys[i] == null) i--;
			u.setCursor({left: u.valToPos(u.data[0][i], 'x'), top: 10});
			return u.root.querySelector('.u-legend').innerText;
		})()`)
		axis := eval[[]string](t, b, `canopy.charts[0].detail.axes[1]._values || []`)
		t.Logf("legend %q, axis %v", legend, axis)
		if !strings.Contains(legend, "iB/s") && !strings.Contains(legend, " B/s") {
			t.Errorf("the legend of %s shows no bytes unit: %q", bytesKey, legend)
		}
		if !strings.Contains(strings.Join(axis, " "), "B/s") {
			t.Errorf("the value axis of %s shows no bytes unit: %v", bytesKey, axis)
		}
		// Counts instead of rates: bytes per interval.
		do(t, b, chromedp.SetValue(`#as`, "count"))
		eval[bool](t, b, `(document.querySelector('#as').dispatchEvent(new Event('change')), true)`)
		waitJS(t, b, `(canopy.charts[0].detail.axes[1]._values || []).join(' ').includes('B') && !(canopy.charts[0].detail.axes[1]._values || []).join(' ').includes('/s')`, 10*time.Second)
		// Counts per bucket: off the chart the legend shows their total.
		if off := eval[string](t, b, offLegend); !regexp.MustCompile(`^Σ [0-9.]+ (B|KiB|MiB|GiB)$`).MatchString(off) {
			t.Errorf("as counts, the legend of %s off the chart shows %q, want the window's total in bytes (Σ …)", bytesKey, off)
		}
		b.checkClean(t, "bytes unit")
	})

	t.Run("a wildcard over 100 series draws 11 lines", func(t *testing.T) {
		b.open(t, "/trend/view/?range=-5m&key=wide,*")
		waitJS(t, b, `canopy.charts[0]?.el.dataset.state === 'drawn'`, 10*time.Second)
		labels := eval[[]string](t, b, `canopy.charts[0].detail.series.slice(1).map(s => s.label)`)
		drawn := eval[float64](t, b, `canopy.charts[0].detail.data.slice(1).filter(ys => ys.some(v => v != null)).length`)
		if len(labels) != 11 || labels[10] != "other" || labels[0] != "wide,s099" || drawn != 11 {
			t.Errorf("wide,* draws %d lines with points of %d series: %v; want the top 10 (wide,s099 first) and other", int(drawn), len(labels), labels)
		}
		do(t, b, chromedp.SetValue(`#top-n`, "5"))
		eval[bool](t, b, `(document.querySelector('#top-n').dispatchEvent(new Event('change')), true)`)
		waitJS(t, b, `canopy.charts[0].detail.series.length === 7`, 10*time.Second)
		b.screenshot(t, "trend-explorer-top")
		b.checkClean(t, "top N")
	})

	t.Run("presets, one window, zoom, reset and auto-refresh", func(t *testing.T) {
		b.open(t, "/trend/view/?range=-5m&key=wide,*&key="+gapKey)
		waitJS(t, b, `canopy.charts.length === 2 && canopy.charts.every(c => c.el.dataset.state === 'drawn')`, 10*time.Second)
		spans := `canopy.charts.map(c => [c.detail.scales.x.min, c.detail.scales.x.max])`
		checkSpan := func(when string, want float64) {
			t.Helper()
			s := eval[[][]float64](t, b, spans)
			if s[0][0] != s[1][0] || s[0][1] != s[1][1] {
				t.Errorf("%s: the panels show different windows: %v", when, s)
			}
			if got := s[0][1] - s[0][0]; got < want-2 || got > want+2 {
				t.Errorf("%s: the window is %.0f s, want %.0f", when, got, want)
			}
		}
		checkSpan("5m", 300)
		do(t, b, chromedp.Click(`#range button[data-range="-6h"]`, chromedp.NodeVisible))
		waitJS(t, b, `canopy.charts.every(c => Math.abs(c.detail.scales.x.max - c.detail.scales.x.min - 21600) < 2)`, 10*time.Second)
		checkSpan("6h", 21600)
		// A zoom ends when the range changes.
		box6 := eval[[]float64](t, b, `(() => { const r = canopy.charts[0].detail.over.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
		do(t, b, drag(box6[0]+box6[2]*0.3, box6[0]+box6[2]*0.6, box6[1]+box6[3]/2)...)
		if got := eval[string](t, b, `location.search`); !strings.Contains(got, "range=-6h") {
			t.Errorf("the address does not keep the range: %q", got)
		}
		do(t, b, chromedp.Click(`#range button[data-range="-5m"]`, chromedp.NodeVisible))
		waitJS(t, b, `canopy.charts.every(c => Math.abs(c.detail.scales.x.max - c.detail.scales.x.min - 300) < 2)`, 10*time.Second)
		// Drag across the second detail chart zooms it; Reset zoom goes back.
		box := eval[[]float64](t, b, `(() => { const r = canopy.charts[1].detail.over.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
		do(t, b, drag(box[0]+box[2]*0.3, box[0]+box[2]*0.6, box[1]+box[3]/2)...)
		zoomed := eval[[]float64](t, b, `[canopy.charts[1].detail.scales.x.min, canopy.charts[1].detail.scales.x.max]`)
		if w := zoomed[1] - zoomed[0]; w > 150 || w < 30 {
			t.Errorf("after dragging 30%% of the chart it shows %.0f s of 300", w)
		}
		do(t, b, chromedp.Click(`.chart-card[data-key="gaps,a"] .zoom-reset`, chromedp.NodeVisible))
		checkSpan("after Reset zoom", 300)
		// Auto-refresh every 10 s: the window moves to now, the chart is the
		// same object (data swapped in place), a zoom stays.
		do(t, b, drag(box[0]+box[2]*0.3, box[0]+box[2]*0.6, box[1]+box[3]/2)...)
		zoomed = eval[[]float64](t, b, `[canopy.charts[1].detail.scales.x.min, canopy.charts[1].detail.scales.x.max]`)
		before := eval[float64](t, b, `(window.__detail = canopy.charts[1].detail, canopy.charts[1].overview.scales.x.max)`)
		do(t, b, chromedp.SetValue(`#refresh`, "10"))
		eval[bool](t, b, `(document.querySelector('#refresh').dispatchEvent(new Event('change')), true)`)
		waitJS(t, b, `(canopy.refreshes || 0) >= 1`, 15*time.Second)
		after := eval[float64](t, b, `canopy.charts[1].overview.scales.x.max`)
		if after < before+5 {
			t.Errorf("after a refresh the window ends at %.0f, before at %.0f: it did not move", after, before)
		}
		if !eval[bool](t, b, `window.__detail === canopy.charts[1].detail`) {
			t.Errorf("the refresh made a new chart instead of updating it")
		}
		if z := eval[[]float64](t, b, `[canopy.charts[1].detail.scales.x.min, canopy.charts[1].detail.scales.x.max]`); z[0] != zoomed[0] || z[1] != zoomed[1] {
			t.Errorf("the refresh lost the zoom: %v, was %v", z, zoomed)
		}
		do(t, b, chromedp.SetValue(`#refresh`, "0"))
		eval[bool](t, b, `(document.querySelector('#refresh').dispatchEvent(new Event('change')), true)`)
		b.checkClean(t, "time controls")
	})

	t.Run("search says how many it shows", func(t *testing.T) {
		b.open(t, "/trend/view/")
		do(t, b, chromedp.SendKeys(`#tree-search`, "many,k"))
		waitJS(t, b, `document.querySelector('#search-count').textContent !== ''`, 5*time.Second)
		got := eval[string](t, b, `document.querySelector('#search-count').textContent`)
		n := eval[float64](t, b, `document.querySelectorAll('#tree-results button.node').length`)
		if got != "showing 200 of 250" || n != 200 {
			t.Errorf("search many,k says %q with %v results, want \"showing 200 of 250\" and 200", got, n)
		}
		b.checkClean(t, "search count")
	})

	t.Run("le buckets: percentiles and numeric order", func(t *testing.T) {
		b.open(t, "/trend/view/?range=-5m&key=reqtime,le,*")
		waitJS(t, b, `canopy.charts[0]?.el.dataset.state === 'drawn'`, 10*time.Second)
		labels := eval[[]string](t, b, `canopy.charts[0].detail.series.slice(1).filter((s, i) => canopy.charts[0].detail.data[i+1].some(v => v != null)).map(s => s.label)`)
		if strings.Join(labels, "|") != "reqtime p50|reqtime p95|reqtime p99" {
			t.Errorf("reqtime,le,* draws %v, want reqtime p50, p95 and p99 with points", labels)
		}
		do(t, b, chromedp.Click(`#tree button.caret[aria-label="Expand reqtime"]`, chromedp.NodeVisible))
		do(t, b, chromedp.Click(`#tree button.caret[aria-label="Expand le"]`, chromedp.NodeVisible))
		order := eval[[]string](t, b, `[...document.querySelectorAll('#tree button.node[data-key^="reqtime,le,"]')].map(b => b.dataset.key.slice(11))`)
		if strings.Join(order, " ") != "0.05 0.1 0.5 1 +Inf" {
			t.Errorf("buckets in the tree: %v, want 0.05 0.1 0.5 1 +Inf", order)
		}
		// The node above the buckets: its children's lines and, since the
		// tree shows it has le buckets, its percentiles.
		do(t, b, chromedp.Click(`#tree button.node[data-key="reqtime"]`, chromedp.NodeVisible))
		waitJS(t, b, `canopy.charts.some(c => c.key === 'reqtime,*' && c.el.dataset.state === 'drawn')`, 10*time.Second)
		labels = eval[[]string](t, b, `canopy.charts.find(c => c.key === 'reqtime,*').detail.series.slice(1).map(s => s.label)`)
		if !strings.Contains(strings.Join(labels, "|"), "reqtime p95") {
			t.Errorf("reqtime,* draws %v, want reqtime's percentiles among them", labels)
		}
		b.screenshot(t, "trend-explorer-percentiles")
		b.checkClean(t, "percentiles")
	})
}

// gapProbe finds the last run of over two nulls between values of the first
// chart's first series and reports whether uPlot left it undrawn: its gap
// list covers it and no pixel of the series' colour is in its middle.
const gapProbe = `(() => {
	const u = canopy.charts[0].detail, xs = u.data[0], ys = u.data[1];
	const vals = ys.map((v, i) => v == null ? -1 : i).filter(i => i >= 0);
	let a = -1, z = -1;
	for (let k = 1; k < vals.length; k++) if (vals[k] - vals[k-1] > 2) { a = vals[k-1]; z = vals[k]; }
	if (a < 0) return {nulls: false, values: vals.length};
	const pa = u.valToPos(xs[a], 'x', true), pz = u.valToPos(xs[z], 'x', true);
	const gaps = (u.series[1]._paths && u.series[1]._paths.gaps) || [];
	const covered = gaps.some(g => g[0] <= pa + 1 && g[1] >= pz - 1);
	const mid = Math.round((pa + pz) / 2);
	const img = u.ctx.getImageData(mid, u.bbox.top, 1, u.bbox.height).data;
	let inked = 0;
	for (let i = 0; i < img.length; i += 4) if (Math.abs(img[i] - 0x2f) < 40 && Math.abs(img[i+1] - 0x7e) < 40 && Math.abs(img[i+2] - 0xd8) < 40 && img[i+3] > 100) inked++;
	// And a pixel column on the first value's segment is inked.
	return {nulls: true, from: pa, to: pz, covered, inked, gaps: JSON.stringify(gaps)};
})()`
