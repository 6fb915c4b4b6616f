package ui

// The harness of the browser tests: a real canopyd built from this module,
// a loopback proxy in front of it (it serves synthetic history for keys
// under "synthetic," so the performance test has exactly the load it
// names), and headless Chromium driven with chromedp.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// buildDaemon compiles canopyd into a temporary folder.
func buildDaemon(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "canopyd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/canopy-dev/canopy/daemon")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build canopyd: %v\n%s", err, out)
	}
	return bin
}

// daemonFlags runs canopyd with two of the repository's pipes, a
// one-second trend tick so pushed numbers reach history quickly, and no
// default log source (the tests feed it themselves).
func daemonFlags(t testing.TB, bin string) []string {
	args := []string{"-pipes.builtin=false", "-pipes", pipesDir(t), "-pipes.cache", pipesCache(), "-trend.interval", "1s"}
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	for _, f := range []string{"default-source", "demo"} {
		if strings.Contains(string(help), "\n  -"+f+"\n") {
			args = append(args, "-"+f+"=false")
		}
	}
	return args
}

// daemon is one running canopyd.
type daemon struct {
	bin     string
	addr    string
	dataDir string
	args    []string
	cmd     *exec.Cmd
	out     *bytes.Buffer
	done    chan error
}

func startDaemon(t testing.TB, bin, addr, dataDir string, args ...string) *daemon {
	t.Helper()
	d := &daemon{bin: bin, addr: addr, dataDir: dataDir, args: args}
	d.start(t)
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemon) start(t testing.TB) {
	t.Helper()
	args := append([]string{"-listen", d.addr, "-data", d.dataDir}, d.args...)
	d.cmd = exec.Command(d.bin, args...)
	d.cmd.Dir = d.dataDir
	d.out = &bytes.Buffer{}
	d.cmd.Stdout = d.out
	d.cmd.Stderr = d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("cannot start canopyd: %v", err)
	}
	d.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(d.cmd, d.done)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.done:
			t.Fatalf("canopyd exited at start: %v\n%s", err, d.out)
		default:
		}
		if r, err := http.Get("http://" + d.addr + "/status"); err == nil {
			r.Body.Close()
			// 401: up, with auth tokens configured.
			if r.StatusCode == http.StatusOK || r.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("canopyd did not answer on %s within 30 s\n%s", d.addr, d.out)
}

// stop ends canopyd with SIGTERM (it writes its final snapshot).
func (d *daemon) stop(t testing.TB) {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		t.Errorf("canopyd did not stop within 15 s of SIGTERM")
	}
	d.cmd = nil
}

func (d *daemon) restart(t testing.TB) {
	t.Helper()
	d.stop(t)
	d.start(t)
}

// push merges a seed-shaped JSON tree.
func (d *daemon) push(t testing.TB, body string) {
	t.Helper()
	r, err := http.Post("http://"+d.addr+"/push", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("push answered %d: %s", r.StatusCode, b)
	}
}

// seedTree is the seed's example tree: browsers (add) with a node that has a
// number and children, and CPU gauges (average) with a marker.
const seedTree = `[
 {"cpu": {"10.3.1.12": {"idle": 32, "sytem": 29, "user": 900, "marker": "sth. wrong happened"}}, "defaultaction": "average"},
 {"br": {"ie": {"6": 3, "7": {"": 8, "venders": {"sogou": 2}}}, "webkit": {"14.0": 40, "13.0": 20}}, "defaultaction": "add"}
]`

// replayHistory writes a generated access log of three days ending now
// (`canopyd gen`) and replays it into dataDir's trend store at the lines'
// own times (`canopyd replay -trend`), before the daemon starts: the trend
// pages then show real history. It returns the log's path.
func replayHistory(t testing.TB, bin, dataDir string, lines int) string {
	t.Helper()
	logPath := filepath.Join(dataDir, "access.log")
	start := time.Now().Add(-72 * time.Hour).UTC().Format(time.RFC3339)
	runCmd(t, bin, "gen", "-n", strconv.Itoa(lines), "-format", "main", "-seed", "9", "-start", start, "-span", "72h", "-o", logPath)
	out := runCmd(t, bin, "replay", "-data", dataDir, "-pipes.builtin=false", "-pipes", pipesDir(t), "-pipes.cache", pipesCache(), "-trend", "-progress", "none", logPath)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "canopyd replay:") {
			t.Logf("%s", l)
		}
	}
	return logPath
}

func runCmd(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("canopyd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pipesDir returns a folder holding two of the repository's built pipes,
// browser and status: enough for every page, and compiling all seven would
// cost CI more than the rest of the test.
func pipesDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pipes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"browser.wasm", "status.wasm", "browser.units.json", "status.units.json"} {
		b, err := os.ReadFile(filepath.Join("..", "pipes-wasm", name))
		if err != nil {
			t.Fatalf("built pipe: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pipesCache is a compilation cache kept between test runs on a machine
// (wazero keys it by module and runtime version).
func pipesCache() string { return filepath.Join(os.TempDir(), "canopy-ui-test-wasm-cache") }

// feed fills the running daemon: the seed tree (keys the tests assert on),
// then the generated log's lines pushed through the pipes, so the tree holds
// what the replayed history describes.
func (d *daemon) feed(t testing.TB, logPath string) {
	t.Helper()
	d.push(t, seedTree)
	pushLog(t, d, logPath)
}

// proxy fronts the daemon for the browser.
type proxy struct {
	srv       *httptest.Server
	target    atomic.Pointer[url.URL]
	trendStub atomic.Bool // daemon has no /trend: serve synthetic history
	synthPts  int
}

func newProxy(t testing.TB, daemonAddr string) *proxy {
	p := &proxy{synthPts: 2000}
	u, _ := url.Parse("http://" + daemonAddr)
	p.target.Store(u)
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(p.target.Load()); r.Out.Host = r.In.Host },
		FlushInterval: -1,
	}
	// Ask once whether the daemon serves history yet.
	if r, err := http.Get("http://" + daemonAddr + "/trend/br?from=-1h"); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusNotFound {
			p.trendStub.Store(true)
			t.Logf("canopyd serves no /trend yet: the proxy answers /trend with synthetic history")
		}
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := strings.CutPrefix(r.URL.Path, "/trend/")
		if r.URL.Path == "/trend" {
			k, ok = r.URL.Query().Get("key"), true
		}
		if ok && !strings.HasPrefix(r.URL.Path, "/trend/view") {
			if strings.HasPrefix(k, "synthetic,") || p.trendStub.Load() {
				p.synthetic(w, r, k)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// synthetic answers /trend/KEY with p.synthPts points per key over the
// asked range (a wave plus a trend, different per key) and one marker.
func (p *proxy) synthetic(w http.ResponseWriter, r *http.Request, key string) {
	now := time.Now()
	parse := func(s string, def time.Time) time.Time {
		if s == "" || s == "now" {
			return def
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return time.Unix(int64(f), 0)
		}
		if d, ok := strings.CutPrefix(s, "-"); ok && len(d) > 1 {
			n, _ := strconv.Atoi(d[:len(d)-1])
			unit := map[byte]time.Duration{'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}[d[len(d)-1]]
			return now.Add(-time.Duration(n) * unit)
		}
		return def
	}
	until := parse(r.URL.Query().Get("until"), now)
	from := parse(r.URL.Query().Get("from"), now.Add(-24*time.Hour))
	n := p.synthPts
	seed := 0
	for _, c := range key {
		seed = seed*31 + int(c)
	}
	phase := float64(seed%97) / 10
	step := until.Sub(from) / time.Duration(n)
	pts := make([][2]float64, n)
	for i := range pts {
		ts := from.Add(time.Duration(i) * step)
		x := float64(i) / float64(n)
		pts[i] = [2]float64{float64(ts.UnixMilli()), math.Round((100+50*math.Sin(x*40+phase)+30*x+10*math.Sin(x*400))*100) / 100}
	}
	mid := from.Add(until.Sub(from) / 3).UnixMilli()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"series":  []map[string]any{{"key": key, "kind": "gauge", "fn": "avg", "points": pts}},
		"markers": []map[string]any{{"key": key, "ts": mid, "text": "deploy"}},
	})
}

// browser is a headless Chromium tab plus what it saw: console errors,
// exceptions, and requests to anywhere but the daemon.
type browser struct {
	ctx      context.Context
	origin   string
	mu       sync.Mutex
	errors   []string
	external []string
}

func newBrowser(t testing.TB, origin string, width, height int) *browser {
	t.Helper()
	path := testenv.NeedCommand(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &browser{ctx: ctx, origin: origin}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("cannot start chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	reqs := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == "assert" {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range reqs {
			if err != nil {
				return
			}
			u := ev.Request.URL
			if !strings.HasPrefix(u, origin) && !strings.HasPrefix(u, "data:") {
				b.mu.Lock()
				b.external = append(b.external, u)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// takeErrors returns and clears what the console reported.
func (b *browser) takeErrors() (errs, external []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	errs, external = b.errors, b.external
	b.errors, b.external = nil, nil
	return errs, external
}

// open navigates to path and waits until the page says it is ready.
func (b *browser) open(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(b.origin+path)); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("window.canopy && window.canopy.ready === true")); err != nil {
		t.Fatalf("%s never became ready: %v", path, err)
	}
}

// eval runs JavaScript and decodes its value.
func eval[T any](t testing.TB, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %q: %v", js, err)
	}
	return v
}

// waitJS polls a JavaScript predicate.
func waitJS(t testing.TB, b *browser, js string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v", js, err)
	}
}

func do(t testing.TB, b *browser, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// screenshotDir is where the tests leave their screenshots:
// $CANOPY_UI_SCREENSHOTS, or a folder in the system temp dir.
func screenshotDir(t testing.TB) string {
	dir := os.Getenv("CANOPY_UI_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "canopy-ui-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("cannot create screenshot folder: %v", err)
	}
	return dir
}

func (b *browser) screenshot(t testing.TB, name string) {
	t.Helper()
	png := b.shot(t)
	p := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatalf("cannot save screenshot: %v", err)
	}
	t.Logf("screenshot %s", p)
}

// shot returns a PNG of the whole page.
func (b *browser) shot(t testing.TB) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return png
}

// checkClean fails the test for console errors or external requests since
// the last check.
func (b *browser) checkClean(t testing.TB, page string) {
	t.Helper()
	errs, ext := b.takeErrors()
	for _, e := range errs {
		t.Errorf("%s: console: %s", page, e)
	}
	for _, u := range ext {
		t.Errorf("%s: request outside the daemon: %s", page, u)
	}
}
