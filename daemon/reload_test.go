package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestReload: SIGHUP makes canopyd read its config again. A source added
// to the config is followed after the reload and the first log's lines
// still count once (the stop before the restart checkpoints exactly); a
// config that no longer parses is refused with one line while the same
// process keeps serving.
func TestReload(t *testing.T) {
	bin := testenv.BuildCanopyd(t)
	dir := t.TempDir()
	logs := [2]string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
	var good [2]float64 // good lines in each log
	for i, p := range logs {
		var b bytes.Buffer
		st, err := loggen.Write(&b, loggen.Config{Lines: 1000 * (i + 1), Seed: uint64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, b.String())
		good[i] = float64(st.Lines - st.Bad)
	}
	conf := filepath.Join(dir, "canopyd.yaml")
	writeFile(t, conf, "sources:\n  - path: "+logs[0]+"\n")
	addr := testenv.FreePort(t)
	cmd := exec.Command(bin, "-listen", addr, "-data", filepath.Join(dir, "data"), "-config", conf,
		"-default-source=false", "-pipes.cache", filepath.Join(os.TempDir(), "canopy-test-wasm-cache"))
	cmd.Dir = "/"
	stderr := &testenv.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	// statusLines waits until /get/status sums to want (the daemon may be
	// restarting: refused connections are retried).
	statusLines := func(want float64) {
		t.Helper()
		got := -1.0
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/get/status")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = 0
			for k, v := range flat(t, body) {
				if f, ok := v.(float64); ok && strings.Count(k, ",") == 1 {
					got += f
				}
			}
			if got == want {
				return
			}
		}
		t.Fatalf("/get/status sums to %v, want %v; stderr:\n%s", got, want, stderr.String())
	}
	statusLines(good[0])

	writeFile(t, conf, "sources:\n  - path: "+logs[0]+"\n  - path: "+logs[1]+"\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	statusLines(good[0] + good[1])
	for deadline := time.Now().Add(time.Minute); !strings.Contains(stderr.String(), " reloaded\n"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no \"reloaded\" line; stderr:\n%s", stderr.String())
		}
	}

	writeFile(t, conf, "sources: [\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	refused := "reload refused, the running config stays: config " + conf + ":"
	for deadline := time.Now().Add(time.Minute); strings.Count(stderr.String(), refused) != 1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("want one line with %q; stderr:\n%s", refused, stderr.String())
		}
	}
	statusLines(good[0] + good[1]) // the same process serves on
	if cmd.ProcessState != nil {
		t.Fatalf("canopyd exited: %v", cmd.ProcessState)
	}
}
