package ui

// The explorer's first look and its time axis as a user sees them (issue
// 19): it opens on one hour with charts that have data, a counter keeps its
// level when zoomed (rates, not counts per bucket), and every page names
// a range and a time the same way (24-hour clock, one label per range).
// Run by TestBrowser on its daemon and browser.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// xSpan is the window (s) of every chart on the page: the explorer's
// detail charts, else the page's one chart.
const xSpan = `(canopy.charts || []).map(c => c.detail || c).filter(u => u && u.scales).map(u => u.scales.x.max - u.scales.x.min)`

// axisTexts is the page's text and every chart's time-axis labels.
const axisTexts = `[document.body.innerText, ...(canopy.charts || []).flatMap(c => [c, c.detail, c.overview]).filter(u => u && u.axes).flatMap(u => u.axes[0]._values || [])]`

// axisFit is, for every value axis drawn on the page, the width its
// longest label needs and the room the axis has for labels.
const axisFit = `(canopy.charts || []).flatMap(c => [c, c.detail]).filter(u => u && u.axes).flatMap(u => u.axes.slice(1)
	.filter(a => a.show !== false && a._values && a._values.length).map(a => { const ctx = u.ctx; ctx.save(); ctx.font = a.font[0];
	const w = Math.max(...a._values.map(v => ctx.measureText(String(v)).width)) / devicePixelRatio; ctx.restore();
	return {need: Math.ceil(w), room: a._size - (a.ticks.show ? a.ticks.size : 0) - a.gap, labels: a._values.join(' | ')}; }))`

// checkAxesFit fails when a value axis label is wider than its axis (cut
// off at the chart's edge, as "..5 kreq/s" was) or two ticks read alike.
func checkAxesFit(t *testing.T, b *browser, page string) {
	t.Helper()
	type fit struct {
		Need, Room float64
		Labels     string
	}
	for _, f := range eval[[]fit](t, b, axisFit) {
		if f.Need > f.Room {
			t.Errorf("%s: a value axis has %.0f px for labels %.0f px wide (cut off): %s", page, f.Room, f.Need, f.Labels)
		}
		seen := map[string]bool{}
		for _, l := range strings.Split(f.Labels, " | ") {
			if seen[l] && l != "" {
				t.Errorf("%s: a value axis labels two ticks %q: %s", page, l, f.Labels)
				break
			}
			seen[l] = true
		}
	}
}

func explorerSubtests(t *testing.T, d *daemon, b *browser) {
	t.Run("the explorer opens on one hour of charts with data", func(t *testing.T) {
		b.open(t, "/trend/view/")
		waitJS(t, b, `canopy.charts.length > 0 && canopy.charts.every(c => c.el.dataset.state)`, 10*time.Second)
		pressed := eval[[]string](t, b, `[...document.querySelectorAll('#range button[aria-pressed="true"]')].map(b => b.textContent)`)
		if strings.Join(pressed, " ") != "1h" {
			t.Errorf("the explorer opens with the presets %v pressed, want 1h", pressed)
		}
		states := eval[map[string]string](t, b, `Object.fromEntries(canopy.charts.map(c => [c.key, c.el.dataset.state + ': ' + c.el.querySelector('p').textContent]))`)
		t.Logf("default charts: %v", states)
		for k, s := range states {
			if !strings.HasPrefix(s, "drawn") {
				t.Errorf("the explorer opens with a chart of %s that shows %q, want its last hour drawn", k, s)
			}
		}
		for _, w := range eval[[]float64](t, b, xSpan) {
			if w < 3598 || w > 3602 {
				t.Errorf("a default chart spans %.0f s, want 3600", w)
			}
		}
		checkAxesFit(t, b, "/trend/view/")
		b.checkClean(t, "/trend/view/ default")
	})

	t.Run("a lone sample is drawn as a dot", func(t *testing.T) {
		// lone,x was pushed once with the history pushes (seconds ago, so
		// not at the chart's edge): between its gaps it is a line of no
		// length, and the chart must still put ink where it is.
		waitTrend(t, d, "lone,x", "", 1)
		b.open(t, "/trend/view/?range=-1h&key=lone,x")
		waitJS(t, b, `canopy.charts[0]?.el.dataset.state === 'drawn'`, 10*time.Second)
		res := eval[map[string]float64](t, b, `(() => {
			const u = canopy.charts[0].detail, xs = u.data[0], ys = u.data[1];
			const idx = ys.map((v, i) => v == null ? -1 : i).filter(i => i >= 0);
			if (!idx.length) return {values: 0};
			const x = Math.round(u.valToPos(xs[idx[0]], 'x', true)), y = Math.round(u.valToPos(ys[idx[0]], u.series[1].scale, true));
			const r = Math.ceil(3 * devicePixelRatio);
			const img = u.ctx.getImageData(x - r, y - r, 2 * r + 1, 2 * r + 1).data;
			let inked = 0;
			for (let i = 0; i < img.length; i += 4) if (Math.abs(img[i] - 0x2f) < 40 && Math.abs(img[i+1] - 0x7e) < 40 && Math.abs(img[i+2] - 0xd8) < 40 && img[i+3] > 100) inked++;
			return {values: idx.length, run: idx[idx.length - 1] - idx[0] + 1, inked, fromEdge: u.bbox.left + u.bbox.width - x};
		})()`)
		t.Logf("lone,x: %v", res)
		if res["values"] < 1 || res["fromEdge"] < 0 {
			t.Fatalf("the chart of lone,x has no value inside the plot: %v", res)
		}
		if res["inked"] == 0 {
			t.Errorf("the sample of lone,x (%v) is drawn with no pixel of its colour", res)
		}
		b.checkClean(t, "lone sample")
	})

	t.Run("a counter keeps its level when zoomed", func(t *testing.T) {
		// level is the chart's mean height over the zoomed window (a
		// bucket without a value counts as 0), from the coarse data kept
		// before the zoom and the full-resolution data after it.
		level := `((u, data) => { const [a, z] = [u.scales.x.min, u.scales.x.max]; let s = 0, n = 0;
			data[0].forEach((x, i) => { if (x >= a && x <= z) { n++; for (const ys of data.slice(1)) s += ys[i] ?? 0; } });
			return n ? s / n : -1; })`
		levels := map[string][2]float64{}
		for _, as := range []string{"rate", "count"} {
			b.open(t, "/trend/view/?range=-7d&key=requests&as="+as)
			waitJS(t, b, `canopy.charts[0]?.el.dataset.state === 'drawn'`, 10*time.Second)
			eval[bool](t, b, `(window.__coarse = canopy.charts[0].detail.data.map(ys => [...ys]), true)`)
			// The replayed log covers the last 3 of the 7 days: zoom on
			// 16 h of it (70-80 % of the overview).
			box := eval[[]float64](t, b, `(() => { const r = canopy.charts[0].overview.over.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
			do(t, b, drag(box[0]+box[2]*0.7, box[0]+box[2]*0.8, box[1]+box[3]/2)...)
			waitJS(t, b, `canopy.charts[0].el.dataset.refined === '1'`, 10*time.Second)
			l := eval[[]float64](t, b, fmt.Sprintf(`[%[1]s(canopy.charts[0].detail, window.__coarse), %[1]s(canopy.charts[0].detail, canopy.charts[0].detail.data),
				(window.__coarse[0][1] - window.__coarse[0][0]) / (canopy.charts[0].detail.data[0][1] - canopy.charts[0].detail.data[0][0])]`, level))
			t.Logf("as=%s: level %.4g before the zoom, %.4g after (buckets %.1f times finer)", as, l[0], l[1], l[2])
			if l[0] <= 0 || l[2] < 3 {
				t.Fatalf("as=%s: the zoomed window has level %v (buckets %v times finer): nothing to compare", as, l[0], l[2])
			}
			levels[as] = [2]float64{l[0], l[1]}
		}
		if r := levels["rate"][1] / levels["rate"][0]; r < 0.67 || r > 1.5 {
			t.Errorf("requests drawn as a rate is %.2f times as high after the zoom (%v): the level changes with zoom", r, levels["rate"])
		}
		// Counts per bucket do shrink with the buckets: the check above sees it.
		if r := levels["count"][1] / levels["count"][0]; r > 0.5 {
			t.Errorf("requests as counts is %.2f times as high after the zoom (%v); finer buckets should hold fewer", r, levels["count"])
		}
		b.checkClean(t, "zoom level")
	})

	t.Run("one clock and one range label on every page", func(t *testing.T) {
		putView(t, d, `{"name":"day","keys":["requests"],"chart":"line","range":"-1d"}`)
		putView(t, d, `{"name":"browsers","keys":["br,ie","cpu"],"chart":"area"}`) // as "view survives restart" saves it
		b.open(t, "/setting/view")
		if got := eval[string](t, b, `document.querySelector('tr[data-view="day"] td:nth-child(4)').textContent`); got != "24h" {
			t.Errorf("the views table names the range -1d %q, want 24h", got)
		}
		for _, c := range []struct{ path, pressed string }{
			{"/trend/view/day", "#tv-range"},
			{"/trend/view/?range=-1d&key=requests", "#range"},
		} {
			b.open(t, c.path)
			waitJS(t, b, `(canopy.charts || []).length > 0`, 10*time.Second)
			if got := eval[string](t, b, `document.querySelector('`+c.pressed+` button[aria-pressed="true"]')?.textContent || ''`); got != "24h" {
				t.Errorf("%s shows the range as %q, want 24h", c.path, got)
			}
			for _, w := range eval[[]float64](t, b, xSpan) {
				if w < 86398 || w > 86402 {
					t.Errorf("%s says 24h and its chart spans %.0f s", c.path, w)
				}
			}
		}
		for _, p := range []string{"/", "/overview", "/realtime/br", "/realtime/view/browsers", "/trend/view/?range=-5m&key=requests", "/trend/view/?range=-7d&key=requests", "/trend/view/day", "/setting/view"} {
			b.open(t, p)
			if strings.HasPrefix(p, "/realtime") {
				// The live chart labels its time axis once it has points:
				// a push gives it some.
				d.push(t, `{"br": {"ie": {"6": 1}}, "defaultaction": "add"}`)
				waitJS(t, b, `canopy.charts.length > 0 && canopy.charts[0].axes[0]._values?.length > 0`, 20*time.Second)
			}
			checkAxesFit(t, b, p)
			for _, s := range eval[[]string](t, b, axisTexts) {
				if strings.Contains(s, " AM") || strings.Contains(s, " PM") || strings.Contains(s, "am\n") || strings.Contains(s, "pm\n") {
					t.Errorf("%s shows a 12-hour clock: %q", p, s)
				}
			}
		}
		b.checkClean(t, "clock and range")
	})
}
