// Package testenv gives integration tests the real peers they drive: it
// installs a missing Debian package (CI machines start without them) and
// hands out loopback ports. A missing dependency that cannot be installed is
// a test failure, never a skip.
package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// NeedCommand makes sure cmd is on PATH, installing the Debian package pkg
// with apt-get when it is not. The test fails if that does not work.
func NeedCommand(t testing.TB, cmd, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(cmd); err == nil {
		return p
	}
	if p := "/usr/sbin/" + cmd; fileExists(p) {
		return p
	}
	InstallPackages(t, pkg)
	if p, err := exec.LookPath(cmd); err == nil {
		return p
	}
	if p := "/usr/sbin/" + cmd; fileExists(p) {
		return p
	}
	t.Fatalf("%s is still missing after installing Debian package %s", cmd, pkg)
	return ""
}

// InstallPackages installs Debian packages that are not installed yet.
func InstallPackages(t testing.TB, pkgs ...string) {
	t.Helper()
	var missing []string
	for _, p := range pkgs {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	lock := []string{"-o", "DPkg::Lock::Timeout=600"}
	upd := exec.Command("apt-get", append(lock, "update", "-qq")...)
	upd.Env = env
	if out, err := upd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get update failed: %v\n%s", err, out)
	}
	args := append(lock, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
	inst := exec.Command("apt-get", args...)
	inst.Env = env
	if out, err := inst.CombinedOutput(); err != nil {
		t.Fatalf("cannot install %v: %v\n%s", missing, err, out)
	}
}

// FreePort returns a loopback address with a port free at the time of the call.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// SyncBuffer is a bytes.Buffer a process's output copier writes while the
// test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// NoFsync turns fsync off in the embedded trend store (the VictoriaMetrics
// library) for this test process and the canopyd it starts, unless
// DISABLE_FSYNC_FOR_TESTING is set already (=false tests with fsync). Upstream
// did this by itself in test binaries; canopy's patched copy does not (see
// RATIONALE.md). fsync slows the store tests about twofold and proves nothing
// they check: a process killed with -9 leaves its writes in the page cache.
// Call it from TestMain, before a store opens.
func NoFsync() {
	if _, ok := os.LookupEnv("DISABLE_FSYNC_FOR_TESTING"); !ok {
		os.Setenv("DISABLE_FSYNC_FOR_TESTING", "true")
	}
}
