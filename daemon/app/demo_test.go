package app

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoStopsOnPush: with nothing configured and no nginx log the demo
// source runs and /status says so (the UI's banner); the first push stops
// it, /status says that, and the demo log grows no more.
func TestDemoStopsOnPush(t *testing.T) {
	data := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: data, Pipes: PipeFlags{Dir: t.TempDir()},
		Ingest: IngestFlags{Poll: 50 * time.Millisecond, Defaults: true, NginxLog: filepath.Join(t.TempDir(), "absent.log")}}
	d := startDaemon(t, cfg)
	defer d.Stop()
	base := "http://" + d.Addr()
	demo := func() map[string]any {
		var st struct {
			Ingest struct {
				Demo map[string]any `json:"demo"`
			} `json:"ingest"`
		}
		getJSON(t, base+"/status", &st)
		return st.Ingest.Demo
	}
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(data, "demo-access.log"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if st := demo(); st["running"] != true {
		t.Fatalf("/status ingest.demo = %v, want running", st)
	}
	before := size()
	waitFor(t, func() bool { return size() > before })

	resp, err := http.Post(base+"/push", "application/json", strings.NewReader(`{"real": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, func() bool { return demo()["running"] == false })
	if note, _ := demo()["note"].(string); !strings.Contains(note, "stopped") {
		t.Errorf("/status ingest.demo.note = %q, want it to say the demo stopped", note)
	}
	stopped := size()
	time.Sleep(time.Second)
	if got := size(); got != stopped {
		t.Errorf("demo log grew from %d to %d bytes after the push", stopped, got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
