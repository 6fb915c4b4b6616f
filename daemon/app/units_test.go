package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// TestTrendUnits: /trend gives each series the unit of its node, from
// the built-in pipes' units files (bytes, reqtime, latency) and from an
// agent module's push (its Ganglia units as "defaultunit"), spelled one
// way ("bytes" is B) and per second for a counter read as a rate; the
// tree's nested form names the units too.
func TestTrendUnits(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	// Lines of now, so they are in the last hour however a backlog lands.
	now := time.Now().Format("02/Jan/2006:15:04:05 -0700")
	for i := range 200 {
		fmt.Fprintf(&sb, "10.0.0.%d - - [%s] \"GET /p%d HTTP/1.1\" 200 %d \"-\" \"curl/8\" 0.%03d 0.%03d\n", i%250, now, i%3, 100+i, i, i)
	}
	logPath := filepath.Join(dir, "access.log")
	if err := os.WriteFile(logPath, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	disable := []string{"browser", "geo", "hosts", "os", "referrers", "requests", "status", "time", "upstream", "url", "vhosts", "visitors"}
	cfg := Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		File:   &config.Config{Pipes: config.PipesConfig{Disable: disable}},
		Trend:  &trend.Flags{Interval: 200 * time.Millisecond, Retention: trend.Duration(24 * time.Hour), Memory: 64 << 20},
		Pipes:  PipeFlags{Builtin: true, Cache: filepath.Join(os.TempDir(), "canopy-test-wasm-cache")},
		Ingest: IngestFlags{Log: logPath, LogFormat: "main", Poll: 50 * time.Millisecond}}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + d.Addr()
	// An agent's mem module: bytes and % (Ganglia's units, as collect sends them).
	resp, err := http.Post(base+"/push", "application/json", strings.NewReader(
		`{"mem": {"web1": {"free": {"": 1048576, "defaultunit": "bytes"}, "used_percent": {"": 40, "defaultunit": "%"}}}, "defaultaction": "average"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	units := func(q string) map[string]string {
		resp, err := http.Get(base + "/trend?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res trend.Result
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatalf("/trend?%s: %v", q, err)
		}
		out := map[string]string{}
		for _, s := range res.Series {
			out[s.Key] = s.Unit
		}
		return out
	}
	for _, c := range []struct {
		q         string
		key, want string
	}{
		{"key=bytes,total", "bytes,total", "B/s"},
		{"key=bytes,total&as=count", "bytes,total", "B"},
		{"key=bytes,avg", "bytes,avg", "B"},
		{"key=reqtime,avg", "reqtime,avg", "s"},
		{"key=reqtime,le,%2BInf", "reqtime,le,+Inf", "req/s"},
		{"key=reqtime&percentile=95", "reqtime p95", "s"},
		{"key=" + url.QueryEscape("latp,req,/p1,p95"), "latp,req,/p1,p95", "s"},
		{"key=mem,web1,free", "mem,web1,free", "B"},
		{"key=mem,web1,used_percent", "mem,web1,used_percent", "%"},
	} {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			got, ok := units(c.q + "&from=-1h")[c.key]
			if ok && got == c.want {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("/trend?%s: %s has unit %q (found %v), want %q", c.q, c.key, got, ok, c.want)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	resp, err = http.Get(base + "/get?key=mem&format=tree")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tree map[string]any
	json.NewDecoder(resp.Body).Decode(&tree)
	if b, _ := json.Marshal(tree); !strings.Contains(string(b), `"free":{"":1048576,"defaultunit":"bytes"}`) {
		t.Errorf("/get?format=tree = %s, want free's defaultunit", b)
	}
}
