package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
)

// TestStartWhilePipesLoad: with an empty WASM cache canopyd serves
// /status while its pipes compile (each one loading, then ready), and the
// lines already in the log at start are counted exactly once by every
// pipe.
func TestStartWhilePipesLoad(t *testing.T) {
	dir := t.TempDir()
	pipesDir := filepath.Join(dir, "pipes")
	os.Mkdir(pipesDir, 0o755)
	for _, p := range []string{"status", "requests"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "pipes-wasm", p+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(pipesDir, p+".wasm"), b, 0o644)
	}
	const n = 3000
	var sb strings.Builder
	for i := range n {
		code := 200
		if i%3 == 0 {
			code = 404
		}
		fmt.Fprintf(&sb, "10.0.%d.%d - - [05/Jan/2026:10:00:00 +0800] \"GET /p%d HTTP/1.1\" %d 12 \"-\" \"curl/8\"\n", i/250, i%250, i%7, code)
	}
	logPath := filepath.Join(dir, "access.log")
	if err := os.WriteFile(logPath, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// An empty cache: each pipe compiles for about a second at least.
	cfg := Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		Pipes:  PipeFlags{Dir: pipesDir, Cache: filepath.Join(dir, "cache")},
		Ingest: IngestFlags{Log: logPath, Poll: 50 * time.Millisecond}}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	type status struct {
		Pipes struct {
			Ready bool   `json:"ready"`
			Lines uint64 `json:"lines"`
			Pipes []struct {
				File  string `json:"file"`
				State string `json:"state"`
			} `json:"pipes"`
		} `json:"pipes"`
	}
	get := func() (status, string) {
		resp, err := http.Get("http://" + d.Addr() + "/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st status
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/status: %s", resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		var states []string
		for _, p := range st.Pipes.Pipes {
			states = append(states, p.File+"="+p.State)
		}
		return st, strings.Join(states, " ")
	}
	if st, states := get(); st.Pipes.Ready || states != "requests.wasm=loading status.wasm=loading" {
		t.Fatalf("/status right after start: ready %v, %s; want both loading", st.Pipes.Ready, states)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st, states := get()
		if st.Pipes.Ready && st.Pipes.Lines == n {
			if states != "requests.wasm=ready status.wasm=ready" {
				t.Fatalf("ready with %s", states)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes: ready %v, %d lines, %s", st.Pipes.Ready, st.Pipes.Lines, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct {
		key  string
		want float64
	}{
		{"requests", n},
		{"status,200", n - n/3},
		{"status,404", n / 3},
		{"req,method,GET", n},
		{"req,notfound", n / 3},
	} {
		p, _ := key.Parse(c.key)
		got := -1.0
		for _, e := range d.tree.Get(p) { // the node, and any children
			if e.Key == c.key {
				got = e.Value
			}
		}
		if got != c.want {
			t.Errorf("%s = %v, want %v", c.key, got, c.want)
		}
	}
}
