package packaging

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

const (
	unitDir   = "/usr/lib/systemd/system"
	dataDir   = "/var/lib/canopy"
	logLines  = 60
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
)

// TestDeb builds the .deb with `task package`, installs it with dpkg,
// verifies both units, runs canopyd exactly as canopyd.service would (its
// ExecStart, from /, as user canopy with group adm, no new privileges) on
// an nginx log that only group adm may read, and checks that removing the
// package keeps the data folder. It changes the system, so it runs only as
// root on Linux (as in CI).
func TestDeb(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("installs a .deb system-wide: runs only as root on Linux (CI is root)")
	}
	for _, tool := range []string{"dpkg", "dpkg-query", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to install and run the package: %v", tool, err)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dist := t.TempDir()
	run(t, root, "go", "tool", "-modfile=tools/go.mod", "task", "package", "DIST="+dist)
	debs, _ := filepath.Glob(filepath.Join(dist, "canopy_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("task package wrote %v, want one canopy_*.deb in %s", debs, dist)
	}

	t.Cleanup(func() { dpkg(t, "--purge", "canopy") })
	dpkg(t, "-i", debs[0])
	conffiles := run(t, "/", "dpkg-query", "-W", "-f=${Conffiles}", "canopy")
	for _, f := range []string{"/etc/canopy/canopyd.yaml", "/etc/canopy/agent.conf", "/etc/canopy/agent.d/cpu.conf"} {
		if !strings.Contains(conffiles, f+" ") {
			t.Errorf("%s is not a conffile; conffiles:\n%s", f, conffiles)
		}
	}
	// The package build stamps the version and commit in.
	if v := run(t, "/", "/usr/bin/canopyd", "version"); !strings.HasPrefix(v, "canopyd 0.1.0~git") || strings.Contains(v, "commit unknown") {
		t.Errorf("installed canopyd version says\n%s\nwant canopyd 0.1.0~gitCOMMIT and a commit", v)
	}
	units := []string{filepath.Join(unitDir, "canopyd.service"), filepath.Join(unitDir, "canopy-agent.service")}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		run(t, "/", "systemd-analyze", "verify", units[0], units[1])
	} else {
		t.Log("systemd-analyze not installed (no systemd here): units not verified")
	}

	// An nginx log as Debian leaves it: root:adm 0640.
	logDir, err := os.MkdirTemp("", "canopy-deb-log-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(logDir) })
	if err := os.Chmod(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(logDir, "access.log")
	var lines strings.Builder
	for i := range logLines {
		ua := chromeUA
		if i%3 == 0 {
			ua = firefoxUA
		}
		fmt.Fprintf(&lines, "127.0.0.1 - - [07/Dec/2026:05:00:%02d +0000] \"GET /p%d HTTP/1.1\" 200 512 \"-\" \"%s\"\n", i%60, i%5, ua)
	}
	if err := os.WriteFile(logPath, []byte(lines.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	adm, err := user.LookupGroup("adm")
	if err != nil {
		t.Fatalf("group adm (owner of nginx's logs) is missing: %v", err)
	}
	admGID, _ := strconv.Atoi(adm.Gid)
	if err := os.Chown(logPath, 0, admGID); err != nil {
		t.Fatal(err)
	}

	unit, err := os.ReadFile(units[0])
	if err != nil {
		t.Fatal(err)
	}
	execStart := unitValue(string(unit), "ExecStart")
	if execStart == "" {
		t.Fatalf("%s has no ExecStart", units[0])
	}
	addr := testenv.FreePort(t)
	// What systemd does for User=canopy SupplementaryGroups=adm
	// NoNewPrivileges=yes WorkingDirectory=/ with a clean environment.
	args := append([]string{"--reuid=canopy", "--regid=canopy", "--groups=adm", "--no-new-privs", "--"},
		strings.Fields(execStart)...)
	args = append(args, "-listen", addr, "-log", logPath)
	cmd := exec.Command("setpriv", args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dataDir, "USER=canopy", "LOGNAME=canopy"}
	out := &lockedBuilder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)

	var total float64
	var body string
	// canopyd answers once its pipes are compiled: seconds on an idle
	// machine, minutes on a loaded one (the cache in DATA is empty here).
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) && total < logLines {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("%s exited: %v\n%s", execStart, err, out)
		case <-time.After(300 * time.Millisecond):
		}
		body, total = getCounts("http://" + addr + "/get/br")
	}
	if total < logLines {
		t.Fatalf("/get/br = %q (sum %v), want the %d lines' browsers\n%s", body, total, logLines, out)
	}
	// systemctl reload runs the unit's ExecReload: canopyd restarts in
	// place with the same counts (nothing read twice).
	reload := strings.Fields(strings.ReplaceAll(unitValue(string(unit), "ExecReload"), "$MAINPID", strconv.Itoa(cmd.Process.Pid)))
	if len(reload) == 0 {
		t.Fatalf("%s has no ExecReload", units[0])
	}
	run(t, "/", reload[0], reload[1:]...)
	total = 0
	for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if strings.Contains(out.String(), " reloaded\n") {
			if body, total = getCounts("http://" + addr + "/get/br"); total > 0 {
				break
			}
		}
	}
	stop()
	if total != logLines {
		t.Fatalf("after %v: /get/br = %q (sum %v), want %d and a \"reloaded\" line\n%s", reload, body, total, logLines, out)
	}

	dpkg(t, "-r", "canopy")
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		t.Fatalf("after dpkg -r, %s is gone (%v); remove must keep the data", dataDir, err)
	}
	if _, err := os.Stat("/usr/bin/canopyd"); err == nil {
		t.Error("after dpkg -r, /usr/bin/canopyd is still there")
	}
	dpkg(t, "--purge", "canopy")
	if _, err := os.Stat(dataDir); err == nil {
		t.Errorf("after dpkg --purge, %s is still there", dataDir)
	}
}

// unitValue is the value of key's last line in a unit file.
func unitValue(unit, key string) string {
	v := ""
	for _, line := range strings.Split(unit, "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			v = val
		}
	}
	return v
}

// getCounts fetches a /get URL and sums its counts (zero while the
// daemon is not up yet).
func getCounts(url string) (string, float64) {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// One object of path: count per matched key.
	var objs []map[string]float64
	if json.Unmarshal(b, &objs) != nil {
		return string(b), 0
	}
	sum := 0.0
	for _, m := range objs {
		for _, v := range m {
			sum += v
		}
	}
	return string(b), sum
}

// dpkg runs dpkg, waiting while another dpkg or apt holds its lock (the
// test machine is shared).
func dpkg(t *testing.T, args ...string) {
	t.Helper()
	for try := 0; ; try++ {
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err == nil {
			return
		}
		if strings.Contains(string(out), "lock") && try < 60 {
			time.Sleep(time.Second)
			continue
		}
		t.Fatalf("dpkg %v: %v\n%s", args, err, out)
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// lockedBuilder collects the daemon's output while the test reads it.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
