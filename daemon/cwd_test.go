package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestFromRoot checks that nothing depends on the working directory: the
// built-in pipes are in the binary and every default path is absolute.
// `canopyd replay --print` of a log from / prints exactly the keys and
// counts it prints from the checkout (browsers, OS, status, URLs, all of
// them), and canopyd
// started from / following the log serves /get/br with the replay's counts.
func TestFromRoot(t *testing.T) {
	bin := testenv.BuildCanopyd(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	var log bytes.Buffer
	st, err := loggen.Write(&log, loggen.Config{Lines: 3000, Seed: 17, Bad: 0.002})
	if err != nil {
		t.Fatal(err)
	}
	checkout, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, logPath, log.String())
	cache := filepath.Join(os.TempDir(), "canopy-test-wasm-cache")

	replay := func(cwd string) []byte {
		t.Helper()
		// One worker: the top-N pipes (hosts, requests) keep per-worker
		// tops, so with several their _other split varies run to run.
		cmd := exec.Command(bin, "replay", "--print", "-pipes.workers", "1", "-data", filepath.Join(dir, "replay-data"), "-pipes.cache", cache, logPath)
		cmd.Dir = cwd
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("canopyd replay from %s: %v\n%s", cwd, err, stderr.String())
		}
		return out
	}
	fromRoot, fromCheckout := replay("/"), replay(checkout)
	keys, other := flat(t, fromRoot), flat(t, fromCheckout)
	for k, v := range keys {
		if w, ok := other[k]; !ok || w != v {
			t.Errorf("replay from / has %s = %v, from the checkout %v", k, v, w)
		}
	}
	for k, w := range other {
		if _, ok := keys[k]; !ok {
			t.Errorf("replay from / lacks %s (from the checkout %v)", k, w)
		}
	}
	status := 0.0
	for k, v := range keys {
		if strings.HasPrefix(k, "status,") {
			status += v.(float64)
		}
	}
	if good := float64(st.Lines - st.Bad); status != good {
		t.Errorf("replay from / counts %v status lines, want the log's %v good lines", status, good)
	}
	for _, p := range []string{"br,", "os,", "status,", "url,"} {
		if len(subset(keys, p)) == 0 {
			t.Errorf("replay from / has no %s* key: no built-in pipe ran", p)
		}
	}

	// The daemon from /: the first half is there at start, the rest is
	// appended while it follows.
	lines := strings.SplitAfter(log.String(), "\n")
	writeFile(t, logPath, strings.Join(lines[:len(lines)/2], ""))
	addr := testenv.FreePort(t)
	cmd := exec.Command(bin, "-data", filepath.Join(dir, "data"), "-listen", addr, "-log", logPath, "-pipes.cache", cache)
	cmd.Dir = "/"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if !testenv.Answers("http://"+addr+"/status", 3*time.Minute) {
		t.Fatalf("canopyd from / does not serve; stderr:\n%s", stderr.String())
	}
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(strings.Join(lines[len(lines)/2:], "")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want, _ := json.Marshal(subset(keys, "br,"))
	var got []byte
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/get/br")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got, _ = json.Marshal(subset(flat(t, body), "br,"))
		if bytes.Equal(got, want) {
			return
		}
	}
	t.Errorf("canopyd from / serves /get/br\n%s\nwant the replay's\n%s\nstderr:\n%s", got, want, stderr.String())
}

// flat reads a flat JSON list ([{"key": value}, …]) into one map.
func flat(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("not a flat JSON list: %v: %.300s", err, b)
	}
	m := map[string]any{}
	for _, kv := range list {
		for k, v := range kv {
			m[k] = v
		}
	}
	return m
}

// subset is m's keys under prefix (json.Marshal writes them sorted).
func subset(m map[string]any, prefix string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}
