package ui

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// uiRig is a daemon, the proxy and a browser for the benchmarks.
func uiRig(b *testing.B) (*daemon, *browser) {
	bin := buildDaemon(b)
	d := startDaemon(b, bin, testenv.FreePort(b), b.TempDir(), daemonFlags(b, bin)...)
	d.push(b, seedTree)
	px := newProxy(b, d.addr)
	return d, newBrowser(b, px.srv.URL, 1280, 800)
}

// BenchmarkExplorer20x2000 loads /trend/view/ with 20 series of 2,000
// points each and reports the time until the page is interactive.
// go tool -modfile=tools/go.mod task bench:ui
func BenchmarkExplorer20x2000(b *testing.B) {
	_, br := uiRig(b)
	explorerLoad(b, br, 20) // warm the browser's caches, as a returning user has them
	var ms, busy []float64
	b.ResetTimer()
	for b.Loop() {
		var v float64
		bz, _ := profileLoad(b, br, func() { v, _ = explorerLoad(b, br, 20) })
		ms = append(ms, v)
		busy = append(busy, bz)
	}
	slices.Sort(ms)
	slices.Sort(busy)
	b.ReportMetric(ms[len(ms)/2], "ms-interactive-p50")
	b.ReportMetric(ms[len(ms)-1], "ms-interactive-max")
	b.ReportMetric(busy[len(busy)/2], "ms-busy-p50")
	br.checkClean(b, "/trend/view/ 20x2000")
}

// BenchmarkRealtimeSoak pushes 20 updates a second to a realtime page for
// CANOPY_UI_SOAK (default 60s) and reports its JS heap after forced
// collections at the start and the end.
func BenchmarkRealtimeSoak(b *testing.B) {
	d, br := uiRig(b)
	dur := 60 * time.Second
	if v := os.Getenv("CANOPY_UI_SOAK"); v != "" {
		var err error
		if dur, err = time.ParseDuration(v); err != nil {
			b.Fatalf("CANOPY_UI_SOAK: %v", err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		r := realtimeSoak(b, br, d, 20, dur)
		b.Logf("realtime soak %s: %s", dur, r)
		b.ReportMetric(r.heapStart/1e6, "MB-heap-start")
		b.ReportMetric(r.heapEnd/1e6, "MB-heap-end")
		b.ReportMetric((r.heapEnd-r.heapStart)/1e3, "KB-heap-growth")
		b.ReportMetric(float64(r.updates), "updates")
	}
	br.checkClean(b, "/realtime/soak")
}
