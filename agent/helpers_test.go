package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// The integration tests drive the real binaries on loopback: canopyd,
// canopy-agent, and the peers (nginx, gmond).

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func goTool() string {
	//lint:ignore SA1019 the toolchain that built this binary builds the guests too; GOROOT may be unset in the environment
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// binaries builds canopy-agent once per test run (canopyd through testenv,
// shared with the other packages' tests).
func binaries(t testing.TB) (daemon, agent string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "canopy-agent-it-")
		if binErr != nil {
			return
		}
		cmd := exec.Command(goTool(), "build", "-o", filepath.Join(binDir, "canopy-agent"), ".")
		// A static binary, as the agent is meant to be deployed (no libc
		// mapped: ~1 MB less RSS).
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("cannot build canopy-agent: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return testenv.BuildCanopyd(t), filepath.Join(binDir, "canopy-agent")
}

// proc is a started binary whose output is kept.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t testing.TB, name string, dir string, bin string, args ...string) *proc {
	t.Helper()
	return startEnv(t, name, dir, nil, bin, args...)
}

// startEnv is start with env added to this process's environment.
func startEnv(t testing.TB, name string, dir string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	if len(env) > 0 {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.Output(), 60))
		}
	})
	return p
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// daemon starts canopyd on addr with data folder dir (and no pipes).
func daemon(t testing.TB, addr, data string, extra ...string) *proc {
	t.Helper()
	bin, _ := binaries(t)
	conf := filepath.Join(filepath.Dir(data), "canopyd.yaml")
	if !fileExists(conf) {
		os.WriteFile(conf, []byte("sources: []\n"), 0o644)
	}
	args := append([]string{"-listen", addr, "-data", data, "-config", conf, "-pipes.builtin=false"}, extra...)
	p := start(t, "canopyd", filepath.Dir(data), bin, args...)
	waitFor(t, 2*time.Minute, "canopyd to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// agentSetup is a modules folder (builtin.wasm and any extra modules) and a
// configs folder for one agent.
type agentSetup struct {
	dir, modules, configs string
}

func newAgentSetup(t testing.TB, confs map[string]string) *agentSetup {
	t.Helper()
	s := &agentSetup{dir: t.TempDir()}
	s.modules = filepath.Join(s.dir, "modules")
	s.configs = filepath.Join(s.dir, "agent.d")
	os.MkdirAll(s.modules, 0o755)
	os.MkdirAll(s.configs, 0o755)
	b, err := os.ReadFile("../pipes-wasm/modules/builtin.wasm")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.modules, "builtin.wasm"), b, 0o644)
	for name, src := range confs {
		if err := os.WriteFile(filepath.Join(s.configs, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// cacheDir keeps compiled modules across the tests (and runs).
func cacheDir() string { return filepath.Join(pipetest.CacheDir(), "agent") }

func (s *agentSetup) conf(t testing.TB, extra string) string {
	p := filepath.Join(s.dir, "agent.conf")
	c := fmt.Sprintf("host: testhost\nmodules_dir: %s\nconfigs_dir: %s\nbuffer:\n  dir: %s\ncache_dir: %s\nrescan: 1s\ntimeout: 2s\n%s",
		s.modules, s.configs, filepath.Join(s.dir, "buffer"), cacheDir(), extra)
	if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *agentSetup) start(t testing.TB, server string, every time.Duration, extra string) *proc {
	t.Helper()
	_, bin := binaries(t)
	return start(t, "canopy-agent", s.dir, bin, "-config", s.conf(t, extra), "-server", server, "-every", every.String())
}

// get reads a key from canopyd as a map.
func get(t testing.TB, addr, key string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/get/" + key)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		return nil
	}
	out := map[string]float64{}
	for _, e := range list {
		for k, v := range e {
			if f, ok := v.(float64); ok {
				out[k] = f
			}
		}
	}
	return out
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLog waits for a line containing s in p's output and returns when.
func waitLog(t testing.TB, p *proc, d time.Duration, s string) time.Time {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%q in the %s log", s, p.name), func() bool { return strings.Contains(p.Output(), s) })
	return time.Now()
}

// logLine returns the first output line of p containing s.
func logLine(p *proc, s string) string {
	sc := bufio.NewScanner(strings.NewReader(p.Output()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return sc.Text()
		}
	}
	return ""
}
