// Package graphitetest runs the real graphite-web for the differential
// tests of canopy's Graphite API: it writes whisper files, starts Debian's
// graphite-web under gunicorn on loopback, and compares render answers.
package graphitetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// Step is the whisper archive's step, in seconds; canopy's sources
// are read at the same step.
const Step = 10

// Shapes are the data the functions are compared over: steady values,
// values with gaps (single nulls, a long hole, a sparse series), and
// running counters with resets (as carbon receives them from collectd).
// Names are SHAPE.webN.v (N 1..3), shapes steady, gaps and counter.
func Shapes(first, last int64) map[string]map[int64]float64 {
	out := map[string]map[int64]float64{}
	put := func(name string, t int64, v float64) {
		if out[name] == nil {
			out[name] = map[int64]float64{}
		}
		out[name][t] = v
	}
	counters := []float64{0, 0, 0}
	for t, i := first, 0; t <= last; t, i = t+Step, i+1 {
		for h := 1; h <= 3; h++ {
			v := 10 + float64(h) + 1.5*float64((i*h)%7) + 0.25*float64(i%3)
			put(fmt.Sprintf("steady.web%d.v", h), t, v)
			gap := (h == 1 && i%5 == 3) || (h == 2 && i%100 >= 40 && i%100 < 70) || (h == 3 && i%4 != 0)
			if !gap {
				put(fmt.Sprintf("gaps.web%d.v", h), t, v)
			}
			counters[h-1] += float64((i*h)%11) + 0.5
			if (h == 1 && i%250 == 200) || (h == 2 && i%150 == 100) {
				counters[h-1] = float64(i % 3) // restart
			}
			if h == 3 && i%9 == 4 {
				continue // a counter with missing samples too
			}
			put(fmt.Sprintf("counter.web%d.v", h), t, counters[h-1])
		}
	}
	return out
}

// Series is one series of a graphite-web format=json answer.
type Series struct {
	Target     string               `json:"target"`
	Tags       map[string]string    `json:"tags"`
	Datapoints [][2]json.RawMessage `json:"datapoints"`
}

// DiffJSON compares two format=json answers (series names and order,
// tags, timestamps, nulls, values within 1e-9 relative); "" when they agree.
func DiffJSON(want, got []byte) string {
	var w, g []Series
	if err := json.Unmarshal(want, &w); err != nil {
		return "graphite-web answer: " + err.Error()
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return "canopy answer: " + err.Error()
	}
	names := func(l []Series) []string {
		var n []string
		for _, s := range l {
			n = append(n, s.Target)
		}
		return n
	}
	if fmt.Sprint(names(w)) != fmt.Sprint(names(g)) {
		return fmt.Sprintf("series %q, want %q", names(g), names(w))
	}
	for i := range w {
		ws, gs := w[i], g[i]
		if fmt.Sprint(ws.Tags) != fmt.Sprint(gs.Tags) {
			return fmt.Sprintf("%s: tags %v, want %v", ws.Target, gs.Tags, ws.Tags)
		}
		if len(ws.Datapoints) != len(gs.Datapoints) {
			return fmt.Sprintf("%s: %d points, want %d", ws.Target, len(gs.Datapoints), len(ws.Datapoints))
		}
		for j := range ws.Datapoints {
			wv, wt := ws.Datapoints[j][0], ws.Datapoints[j][1]
			gv, gt := gs.Datapoints[j][0], gs.Datapoints[j][1]
			if string(wt) != string(gt) {
				return fmt.Sprintf("%s point %d: time %s, want %s", ws.Target, j, gt, wt)
			}
			if !sameValue(wv, gv) {
				return fmt.Sprintf("%s point %d (t=%s): %s, want %s", ws.Target, j, wt, gv, wv)
			}
		}
	}
	return ""
}

// HasValues reports whether a format=json answer has a non-null value.
func HasValues(body []byte) bool {
	var l []Series
	if json.Unmarshal(body, &l) != nil {
		return false
	}
	for _, s := range l {
		for _, d := range s.Datapoints {
			if string(d[0]) != "null" {
				return true
			}
		}
	}
	return false
}

func sameValue(a, b json.RawMessage) bool {
	an, bn := string(a) == "null", string(b) == "null"
	if an || bn {
		return an == bn
	}
	x, errx := strconv.ParseFloat(string(a), 64)
	y, erry := strconv.ParseFloat(string(b), 64)
	if errx != nil || erry != nil {
		// 1e9999 (infinity) parses as ±Inf with a range error.
		return math.IsInf(x, 0) && x == y
	}
	if x == y {
		return true
	}
	return math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
}

// Get fetches u and returns the body and the status.
func Get(t *testing.T, u string) ([]byte, int) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("graphite-web: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b, resp.StatusCode
}

// WriteWhisper creates one whisper file per series under
// dir/storage/whisper (a single archive of Step seconds for two days)
// with python3's whisper module.
func WriteWhisper(t *testing.T, dir string, data map[string]map[int64]float64) {
	t.Helper()
	type file struct {
		Path   string       `json:"path"`
		Points [][2]float64 `json:"points"`
	}
	var files []file
	for name, pts := range data {
		f := file{Path: filepath.Join(dir, "storage", "whisper", filepath.Join(strings.Split(name, ".")...)) + ".wsp"}
		for ts, v := range pts {
			f.Points = append(f.Points, [2]float64{float64(ts), v})
		}
		sort.Slice(f.Points, func(i, j int) bool { return f.Points[i][0] < f.Points[j][0] })
		files = append(files, f)
	}
	in, err := json.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`
import json, os, sys, whisper
for f in json.load(sys.stdin):
    os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
    whisper.create(f["path"], [(%d, 2 * 8640)], xFilesFactor=0.5, aggregationMethod="average")
    whisper.update_many(f["path"], [(int(t), v) for t, v in f["points"]])
`, Step)
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot write whisper files: %v\n%s", err, out)
	}
}

// Start installs (when missing) and runs Debian's graphite-web under gunicorn on a
// loopback port with its storage in dir, and returns its URL.
func Start(t *testing.T, dir string) string {
	t.Helper()
	testenv.InstallPackages(t, "graphite-web", "graphite-carbon", "python3-whisper", "gunicorn")
	storage := filepath.Join(dir, "storage")
	for _, d := range []string{"whisper", "log/webapp"} {
		if err := os.MkdirAll(filepath.Join(storage, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	settings := fmt.Sprintf(`SECRET_KEY = 'canopy-differential-test'
STORAGE_DIR = %[1]q
WHISPER_DIR = %[1]q + '/whisper'
LOG_DIR = %[1]q + '/log/webapp'
INDEX_FILE = %[1]q + '/index'
TIME_ZONE = 'UTC'
DEFAULT_CACHE_DURATION = 0
ENFORCE_INPUT_VALIDATION = True
DATABASES = {'default': {'NAME': %[1]q + '/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}
`, storage)
	if err := os.WriteFile(filepath.Join(dir, "canopy_gw_settings.py"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PYTHONPATH="+dir, "GRAPHITE_SETTINGS_MODULE=canopy_gw_settings", "DJANGO_SETTINGS_MODULE=graphite.settings")
	mig := exec.Command("/usr/bin/python3", "-m", "django", "migrate", "--run-syncdb", "-v0")
	mig.Env = env
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("graphite-web's database: %v\n%s", err, out)
	}
	addr := testenv.FreePort(t)
	logf, err := os.Create(filepath.Join(dir, "gunicorn.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "-m", "gunicorn", "--bind", addr, "--workers", "2", "graphite.wsgi:application")
	cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Dir = env, logf, logf, dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start gunicorn: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	u := "http://" + addr
	if !testenv.Answers(u+"/version", 60*time.Second) {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("graphite-web did not answer on %s:\n%s", addr, log)
	}
	return u
}
