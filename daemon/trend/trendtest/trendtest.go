// Package trendtest runs the peers trend tests need: a real
// VictoriaMetrics single node (Debian's victoria-metrics) on a loopback
// port with a temporary data folder.
package trendtest

import (
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// StartVictoriaMetrics starts victoria-metrics (installing the Debian
// package when missing) and returns its base URL; it is stopped when the
// test ends.
func StartVictoriaMetrics(t testing.TB) string {
	t.Helper()
	return StartVictoriaMetricsOn(t, testenv.FreePort(t))
}

// StartVictoriaMetricsOn is StartVictoriaMetrics on a given loopback address.
func StartVictoriaMetricsOn(t testing.TB, addr string) string {
	t.Helper()
	bin := testenv.NeedCommand(t, "victoria-metrics", "victoria-metrics")
	cmd := exec.Command(bin,
		"-storageDataPath="+t.TempDir(),
		"-httpListenAddr="+addr,
		"-retentionPeriod=5y",
		"-loggerLevel=ERROR",
	)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start victoria-metrics: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("victoria-metrics did not come up on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
