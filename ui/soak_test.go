package ui

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// heapAfterGC forces a full garbage collection in the page and returns the
// JS heap in use (bytes) and the number of DOM elements.
func heapAfterGC(t testing.TB, b *browser) (float64, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	used, err := chromedp.Run(ctx, chromedp.Action[float64](func(ctx context.Context, tg *chromedp.Target) (float64, error) {
		for range 2 {
			if _, err := cdp.Call(ctx, tg, heapprofiler.CollectGarbage, cdp.Empty{}); err != nil {
				return 0, err
			}
		}
		r, err := cdp.Call(ctx, tg, runtime.GetHeapUsage, cdp.Empty{})
		return r.UsedSize, err
	}))
	if err != nil {
		t.Fatalf("heap usage: %v", err)
	}
	return used, int(eval[float64](t, b, `document.getElementsByTagName('*').length`))
}

type soakResult struct {
	pushes, updates int
	heapStart       float64 // bytes after warm-up
	heapEnd         float64
	heapMax         float64
	nodesStart      int
	nodesEnd        int
	samples         []string
}

// realtimeSoak opens /realtime/soak with 20 keys, pushes `rate` updates a
// second for dur (after a warm-up) and measures the page's JS heap after
// forced collections along the way.
func realtimeSoak(t testing.TB, b *browser, d *daemon, rate int, dur time.Duration) soakResult {
	t.Helper()
	var seed strings.Builder
	seed.WriteString(`{"soak": {`)
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&seed, `%s"k%02d": %d`, map[bool]string{true: ",", false: ""}[i > 0], i, i)
	}
	seed.WriteString(`}, "defaultaction": "last"}`)
	d.push(t, seed.String())
	b.open(t, "/realtime/soak")

	rng := rand.New(rand.NewPCG(1, 2))
	client := &http.Client{Timeout: 5 * time.Second}
	pushes := 0
	pushFor := func(dur time.Duration) {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		end := time.Now().Add(dur)
		for time.Now().Before(end) {
			<-tick.C
			body := fmt.Sprintf(`{"soak": {"k%02d": %d, "k%02d": %d}, "defaultaction": "last"}`,
				rng.IntN(20), rng.IntN(100000), rng.IntN(20), rng.IntN(100000))
			r, err := client.Post("http://"+d.addr+"/push", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			r.Body.Close()
			pushes++
		}
	}
	// A one-minute chart window: its rings stop growing within the run.
	eval[bool](t, b, `(document.querySelector('#rt-window').value = '60', document.querySelector('#rt-window').dispatchEvent(new Event('change')), true)`)
	pushFor(10 * time.Second)
	var res soakResult
	res.heapStart, res.nodesStart = heapAfterGC(t, b)
	res.heapMax = res.heapStart
	step := dur / 6
	for i := 0; i < 6; i++ {
		pushFor(step)
		h, n := heapAfterGC(t, b)
		res.samples = append(res.samples, fmt.Sprintf("%.0fs:%.2fMB/%d", (time.Duration(i+1)*step).Seconds(), h/1e6, n))
		res.heapMax = max(res.heapMax, h)
		res.heapEnd, res.nodesEnd = h, n
	}
	res.pushes = pushes
	res.updates = int(eval[float64](t, b, `Number(document.querySelector('#rt-updates').textContent)`))
	return res
}

func (r soakResult) String() string {
	return fmt.Sprintf("%d pushes, %d updates applied; JS heap after GC %.2f MB at start, %.2f MB at end (max %.2f, growth %+.1f KB); DOM elements %d -> %d; samples %v",
		r.pushes, r.updates, r.heapStart/1e6, r.heapEnd/1e6, r.heapMax/1e6, (r.heapEnd-r.heapStart)/1e3, r.nodesStart, r.nodesEnd, r.samples)
}
