package ui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// profileLoad records a CPU profile of the page while fn runs and returns
// the page's busy time (every sample but idle: scripts, style, layout,
// paint, parsing, GC) and the top self-time functions. Busy time counts
// only the page's own work, so a loaded machine inflates it far less than
// wall time.
func profileLoad(t testing.TB, b *browser, fn func()) (float64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, profiler.Enable, cdp.Empty{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, tg, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, profiler.Start, cdp.Empty{})
		return err
	}))
	if err != nil {
		t.Fatalf("profiler: %v", err)
	}
	fn()
	p, err := chromedp.Run(ctx, chromedp.Action[*profiler.Profile](func(ctx context.Context, tg *chromedp.Target) (*profiler.Profile, error) {
		r, err := cdp.Call(ctx, tg, profiler.Stop, cdp.Empty{})
		return r.Profile, err
	}))
	if err != nil {
		t.Fatalf("profiler stop: %v", err)
	}
	self := map[string]float64{}
	total := 0.0
	dt := (p.EndTime - p.StartTime) / float64(max(1, len(p.Samples))) / 1000 // ms per sample
	byID := map[int64]*profiler.ProfileNode{}
	for _, n := range p.Nodes {
		byID[n.ID] = n
	}
	for _, id := range p.Samples {
		n := byID[id]
		name := n.CallFrame.FunctionName
		if name == "" {
			name = "(anonymous)"
		}
		u := n.CallFrame.URL
		if i := strings.LastIndex(u, "/"); i >= 0 {
			u = u[i+1:]
		}
		self[fmt.Sprintf("%s %s:%d", name, u, n.CallFrame.LineNumber)] += dt
		total += dt
	}
	keys := make([]string, 0, len(self))
	for k := range self {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return self[keys[i]] > self[keys[j]] })
	busy := total - self["(idle) :-1"]
	var sb strings.Builder
	fmt.Fprintf(&sb, "profile %.0f ms, busy %.0f ms:", total, busy)
	for _, k := range keys[:min(15, len(keys))] {
		fmt.Fprintf(&sb, "\n  %6.1f ms  %s", self[k], k)
	}
	return busy, sb.String()
}
