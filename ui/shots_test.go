package ui

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// shotPages are every page the UI has, with the data the test daemon
// holds; "error" pages are the daemon's own HTML error pages, which have
// no window.canopy to wait for.
var shotPages = []struct{ name, path string }{
	{"home", "/"},
	{"overview", "/overview"},
	{"realtime", "/realtime/br"},
	{"realtime-view", "/realtime/view/browsers"},
	{"explorer", "/trend/view/"},
	{"explorer-keys", "/trend/view/?key=synthetic,a&key=synthetic,b"},
	{"trend-view", "/trend/view/traffic"},
	{"settings", "/setting/view"},
	{"not-found-view", "/realtime/view/nope"},
	{"error-404", "/no/such/page"},
	{"error-400", "/trend?key=x&points=0"},
}

// TestShots writes a screenshot of every page at 1280 px and 390 px wide,
// light and dark, into $CANOPY_UI_SHOTS (`go tool -modfile=tools/go.mod
// task ui:shots` sets it to ui/testdata/shots). Without it the test has
// nothing to do: TestBrowser checks the pages; this is for looking at them.
func TestShots(t *testing.T) {
	dir := os.Getenv("CANOPY_UI_SHOTS")
	if dir == "" {
		t.Skip("set CANOPY_UI_SHOTS=DIR (task ui:shots) to write the screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("cannot create screenshot folder: %v", err)
	}
	bin := buildDaemon(t)
	data := t.TempDir()
	logPath := replayHistory(t, bin, data, 6000)
	d := startDaemon(t, bin, testenv.FreePort(t), data, daemonFlags(t, bin)...)
	d.feed(t, logPath)
	putView(t, d, `{"name":"browsers","keys":["br,ie","cpu"],"chart":"area"}`)
	putView(t, d, `{"name":"traffic","keys":["requests","status,*","br,ie"],"chart":"line","range":"-7d"}`)
	px := newProxy(t, d.addr)
	b := newBrowser(t, px.srv.URL, 1280, 800)
	// Live pushes while the shots are taken, so the realtime charts move.
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			// Not d.push: a failure here must not end the test from this goroutine.
			if r, err := http.Post("http://"+d.addr+"/push", "application/json", strings.NewReader(fmt.Sprintf(`{"br": {"ie": {"6": %d}}}`, 1+i%7))); err == nil {
				r.Body.Close()
			}
		}
	}()
	defer close(stop)

	n := 0
	for _, size := range []struct {
		w, h   int64
		mobile bool
	}{{1280, 800, false}, {390, 844, true}} {
		vp := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if size.mobile {
			vp = append(vp, chromedp.EmulateMobile)
		}
		do(t, b, chromedp.EmulateViewport(size.w, size.h, vp...))
		for _, theme := range []string{"light", "dark"} {
			// The theme is the user's saved choice, kept by the daemon's origin.
			b.open(t, "/")
			eval[bool](t, b, `(localStorage.setItem('canopy.theme', '`+theme+`'), true)`)
			for _, p := range shotPages {
				if strings.HasPrefix(p.name, "error-") {
					do(t, b, chromedp.Navigate(b.origin+p.path))
				} else {
					b.open(t, p.path)
				}
				if strings.HasPrefix(p.name, "realtime") {
					time.Sleep(3 * time.Second) // a few ticks on the live chart
				}
				name := fmt.Sprintf("%s-%d-%s", p.name, size.w, theme)
				png := b.shot(t)
				if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
					t.Fatalf("cannot save screenshot: %v", err)
				}
				n++
			}
		}
	}
	b.takeErrors() // error pages log their 4xx; TestBrowser checks the console
	t.Logf("%d screenshots in %s", n, dir)
}
