package ui

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// demoSubtest: a daemon with nothing configured and no nginx log runs the
// demo source, and every page says so in a banner; after the first push
// the demo stops and the banner is gone.
func demoSubtest(t *testing.T, bin string) {
	t.Run("demo source shows a banner until the first push", func(t *testing.T) {
		args := []string{"-pipes.builtin=false", "-pipes", pipesDir(t), "-pipes.cache", pipesCache(),
			"-default-source.path", filepath.Join(t.TempDir(), "no-nginx.log")}
		d := startDaemon(t, bin, testenv.FreePort(t), t.TempDir(), args...)
		b := newBrowser(t, "http://"+d.addr, 1280, 800)
		for _, page := range []string{"/", "/overview", "/trend/view/"} {
			b.open(t, page)
			waitJS(t, b, `document.body.dataset.demo === 'on' && !!document.getElementById('demo-banner')`, 10*time.Second)
			if got := eval[string](t, b, `document.getElementById('demo-banner').innerText`); !containsAll(got, "Demo data", "no log is configured") {
				t.Errorf("%s: banner says %q", page, got)
			}
		}
		d.push(t, `{"real": {"hits": 1}, "defaultaction": "add"}`)
		waitStatus := time.Now().Add(10 * time.Second)
		for {
			var st struct {
				Ingest struct {
					Demo struct {
						Running bool `json:"running"`
					} `json:"demo"`
				} `json:"ingest"`
			}
			readJSON(t, "http://"+d.addr+"/status", &st)
			if !st.Ingest.Demo.Running {
				break
			}
			if time.Now().After(waitStatus) {
				t.Fatal("the demo still runs 10 s after a push")
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.open(t, "/")
		// The page marks body[data-demo] once it has read /status; the
		// banner would come with that answer.
		waitJS(t, b, `document.body.dataset.demo === 'off'`, 10*time.Second)
		if eval[bool](t, b, `!!document.getElementById('demo-banner')`) {
			t.Errorf("the banner is still shown after the demo stopped")
		}
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
