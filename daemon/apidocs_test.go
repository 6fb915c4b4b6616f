package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestAPIDocExamples runs every example in docs/api.md, in order, against
// a live canopyd with the listeners the page shows (on free ports), and the
// "```sh auth" blocks against a second daemon with tokens.
func TestAPIDocExamples(t *testing.T) {
	testenv.NeedCommand(t, "curl", "curl")
	const doc = "../docs/api.md"
	examples := parseDocExamples(t, doc)
	if len(examples) < 20 {
		t.Fatalf("found %d examples in %s, want at least 20", len(examples), doc)
	}
	authLines := fencedLines(t, doc, "```sh auth")

	ports := map[string]string{}
	for _, p := range []string{"8125", "2003", "8126"} {
		_, port, _ := net.SplitHostPort(testenv.FreePort(t))
		ports[p] = port
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "canopyd.yaml")
	writeFile(t, conf, fmt.Sprintf(`listeners:
  - {proto: udp, listen: "127.0.0.1:%s", format: statsd}
  - {proto: tcp, listen: "127.0.0.1:%s", format: graphite}
  - {proto: tcp, listen: "127.0.0.1:%s", format: json}
`, ports["8125"], ports["2003"], ports["8126"]))
	authConf := filepath.Join(dir, "auth.yaml")
	writeFile(t, authConf, `tokens:
  - {name: grafana, token: "read-secret", scopes: [read]}
  - {name: agents, token: "write-secret", scopes: [write]}
`)
	// One pipe is enough for the access-log example, and compiles fast.
	pipesDir := filepath.Join(dir, "pipes")
	os.MkdirAll(pipesDir, 0o755)
	wasm, err := os.ReadFile("../pipes-wasm/status.wasm")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(pipesDir, "status.wasm"), string(wasm))
	cache := filepath.Join(os.TempDir(), "canopy-apidocs-wasm-cache")
	bin := testenv.BuildCanopyd(t)
	addr := testenv.StartCanopyd(t, bin, "-data", t.TempDir(), "-config", conf, "-pipes.builtin=false", "-pipes", pipesDir, "-pipes.cache", cache).Addr
	authAddr := testenv.StartCanopyd(t, bin, "-data", t.TempDir(), "-config", authConf, "-pipes.builtin=false").Addr

	for _, ex := range examples {
		target := addr
		if authLines[ex.line] {
			target = authAddr
		}
		cmd := strings.ReplaceAll(ex.cmd, "localhost:8080", target)
		for doc, real := range ports {
			cmd = strings.ReplaceAll(cmd, "127.0.0.1/"+doc, "127.0.0.1/"+real)
		}
		out, err := exec.Command("bash", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Errorf("api.md:%d: %s: %v\n%s", ex.line, ex.cmd, err, out)
			continue
		}
		if ex.want != "" && !matchOutput(ex.want, strings.TrimSpace(string(out))) {
			t.Errorf("api.md:%d: %s\n got %s\nwant %s", ex.line, ex.cmd, strings.TrimSpace(string(out)), ex.want)
		}
	}
}

// matchOutput compares output with what the page shows, where <n> stands
// for any number (versions and counts that depend on what else runs).
func matchOutput(want, got string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(want), "<n>", "[0-9]+") + "$"
	ok, _ := regexp.MatchString(re, got)
	return ok
}

// fencedLines returns the line numbers inside code fences opened by fence.
func fencedLines(t *testing.T, path, fence string) map[int]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]bool{}
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == fence:
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in:
			out[n] = true
		}
	}
	return out
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
