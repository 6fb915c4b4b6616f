package app

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/daemon/trend"
	"github.com/canopy-dev/canopy/daemon/trend/trendtest"
)

// TestReplayTrendRequestsSumToGoodLines: `canopyd replay --trend` of a
// generated three-day log, into the embedded store and into a real
// VictoriaMetrics; GET /trend/requests?fn=rate then sums to the number of
// good lines exactly.
func TestReplayTrendRequestsSumToGoodLines(t *testing.T) {
	start := time.Now().Add(-4 * 24 * time.Hour).Truncate(time.Hour)
	logPath := filepath.Join(t.TempDir(), "access.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := loggen.Write(f, loggen.Config{Lines: 30_000, Seed: 7, Format: "main", Bad: 0.01, Start: start, Span: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	good := st.Lines - st.Bad
	cache := t.TempDir() // compiled pipes, shared by both runs
	// Only the status pipe (it counts requests): compiling the others
	// would triple the test's time.
	pipesDir := t.TempDir()
	wasm, err := os.ReadFile("../../pipes-wasm/status.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pipesDir, "status.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, backend := range []string{"embedded", "remote"} {
		t.Run(backend, func(t *testing.T) {
			data := t.TempDir()
			cfg := filepath.Join(t.TempDir(), "canopyd.yaml")
			var remote string
			if backend == "remote" {
				remote = trendtest.StartVictoriaMetrics(t)
			}
			yaml := "{}\n"
			if remote != "" {
				yaml = fmt.Sprintf("trend:\n  remote: %s\n", remote)
			}
			if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			err := cmdReplay([]string{"--trend", "--data", data, "--config", cfg, "--pipes.builtin=false", "--pipes", pipesDir,
				"--pipes.cache", cache, "--progress", "none", "--trend.interval", "1m", logPath})
			if err != nil {
				t.Fatalf("replay: %v", err)
			}

			var be trend.Backend
			if remote != "" {
				be, err = trend.OpenRemote(remote, "")
			} else {
				be, err = trend.OpenEmbedded(filepath.Join(data, "trend"), 365*24*time.Hour)
			}
			if err != nil {
				t.Fatal(err)
			}
			store := trend.New(trend.Options{Backend: be})
			defer store.Close()
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			api.TrendRoutes(r, store, nil)
			q := url.Values{
				"as":     {"count"},
				"from":   {start.Add(-time.Hour).Format(time.RFC3339)},
				"until":  {start.Add(73 * time.Hour).Format(time.RFC3339)},
				"points": {"1000"},
			}
			for _, points := range []string{"1000", "72", "1"} {
				q.Set("points", points)
				w := httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/trend/requests?"+q.Encode(), nil))
				if w.Code != http.StatusOK {
					t.Fatalf("GET /trend/requests: %d %s", w.Code, w.Body)
				}
				var res trend.Result
				if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
					t.Fatal(err)
				}
				if len(res.Series) != 1 {
					t.Fatalf("points=%s: %d series, want 1", points, len(res.Series))
				}
				sum := 0.0
				for _, p := range res.Series[0].Points {
					if !math.IsNaN(p.V) {
						sum += p.V
					}
				}
				if sum != float64(good) {
					t.Errorf("points=%s: sum of requests rate = %v, want %d good lines (%d lines, %d bad)", points, sum, good, st.Lines, st.Bad)
				}
			}
		})
	}
}

// TestDaemonRefusesBadTrendFolder: canopyd stops at start, with a message
// naming the problem, when its trend folder is unusable.
func TestDaemonRefusesBadTrendFolder(t *testing.T) {
	bin := testenv.BuildCanopyd(t)
	for _, c := range []struct {
		name, want string
		setup      func(data string) error
	}{
		{"trend is a file", "cannot create trend storage folder", func(data string) error {
			return os.WriteFile(filepath.Join(data, "trend"), []byte("x"), 0o644)
		}},
		{"corrupt part list", "is corrupt", func(data string) error {
			dir := filepath.Join(data, "trend", "data", "small", "2026_01")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "parts.json"), []byte("{garbage"), 0o644)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			if err := c.setup(data); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-listen", testenv.FreePort(t), "-data", data, "-config", "/dev/null", "-pipes.builtin=false", "-pipes", t.TempDir())
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("canopyd started on a bad trend folder:\n%s", out)
			}
			if !strings.Contains(string(out), c.want) || strings.Contains(string(out), "goroutine ") {
				t.Errorf("canopyd output %q: want a clear message containing %q and no stack trace", out, c.want)
			}
		})
	}
}

// TestDaemonKill9KeepsTrend: canopyd ticking every 4 s while pushes
// arrive; kill -9 a second after its third tick; after a restart the
// history holds every total up to before the second tick.
func TestDaemonKill9KeepsTrend(t *testing.T) {
	bin := testenv.BuildCanopyd(t)
	data := t.TempDir()
	p := testenv.StartCanopyd(t, bin, "-data", data, "-config", "/dev/null", "-pipes.builtin=false", "-pipes", t.TempDir(), "-trend.interval", "4s")
	status := func() (ticks float64, requests float64) {
		var st struct {
			Trend struct {
				Ticks float64 `json:"ticks"`
			} `json:"trend"`
		}
		getJSON(t, p.URL()+"/status", &st)
		var got []map[string]float64
		getJSON(t, p.URL()+"/get/requests", &got)
		if len(got) == 1 {
			requests = got[0]["requests"]
		}
		return st.Trend.Ticks, requests
	}
	var beforeTick2 float64
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Post(p.URL()+"/push", "application/json", strings.NewReader(`{"requests": 1, "defaultaction": "add"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ticks, req := status()
		if ticks < 2 {
			beforeTick2 = req
		}
		if ticks >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no third tick in 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	p.Kill()
	p.Start()
	var res trend.Result
	getJSON(t, p.URL()+"/trend/requests?fn=max&points=1&from=-5m", &res)
	if len(res.Series) != 1 || len(res.Series[0].Points) != 1 {
		t.Fatalf("after restart: %+v, want one series", res)
	}
	if got := res.Series[0].Points[0].V; got < beforeTick2 || beforeTick2 == 0 {
		t.Errorf("after kill -9 and restart the highest total stored is %v, want at least %v (before the second tick)", got, beforeTick2)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
