package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDaemonRestart: a pushed number is served, survives Stop (the final
// snapshot) and is there again after New on the same data folder.
func TestDaemonRestart(t *testing.T) {
	data, pipesDir := t.TempDir(), t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: data, Pipes: PipeFlags{Dir: pipesDir}, Ingest: IngestFlags{Poll: 50 * time.Millisecond}}
	start := func() *Daemon {
		d := startDaemon(t, cfg)
		return d
	}
	get := func(d *Daemon, method, path, body string) string {
		req, _ := http.NewRequest(method, "http://"+d.Addr()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	d := start()
	get(d, "POST", "/push", `{"br": {"ie": {"7": 8}}, "defaultaction": "add"}`)
	if got := get(d, "GET", "/get/br", ""); !strings.Contains(got, `"br,ie,7":8`) {
		t.Fatalf("/get/br = %s", got)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	d = start()
	defer d.Stop()
	if got := get(d, "GET", "/get/br", ""); !strings.Contains(got, `"br,ie,7":8`) {
		t.Fatalf("after restart /get/br = %s", got)
	}
}
