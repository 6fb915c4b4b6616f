package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// docExample is one shell command from a ```sh block and the output the
// document promises (the "# ..." lines right after it), if any.
type docExample struct {
	line int
	cmd  string
	want string
}

// parseDocExamples reads the ```sh blocks of a markdown file. A command is
// a line that does not start with "#"; "# text" lines after it are its
// expected output.
func parseDocExamples(t *testing.T, path string) []docExample {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("cannot open %s: %v", path, err)
	}
	defer f.Close()
	var out []docExample
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case !in || strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "# "):
			if len(out) > 0 {
				last := &out[len(out)-1]
				if last.want != "" {
					last.want += "\n"
				}
				last.want += strings.TrimPrefix(line, "# ")
			}
		default:
			out = append(out, docExample{line: n, cmd: line})
		}
	}
	return out
}

// startDaemon builds canopyd and runs it on a free loopback port with a
// fresh data folder; it returns the address.
func startDaemon(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "canopyd")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cannot build canopyd: %v\n%s", err, out)
	}
	addr := testenv.FreePort(t)
	conf := filepath.Join(t.TempDir(), "canopyd.yaml")
	if err := os.WriteFile(conf, []byte("# empty: defaults only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-listen", addr, "-data", t.TempDir(), "-config", conf, "-default-source=false"}, args...)...)
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start canopyd: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/status"); err == nil {
			resp.Body.Close()
			return addr
		}
	}
	t.Fatalf("canopyd did not answer on %s", addr)
	return ""
}

// TestReadmeExamples runs the README's curl examples, in order, against a
// live daemon and checks the outputs the README shows.
func TestReadmeExamples(t *testing.T) {
	testenv.NeedCommand(t, "curl", "curl")
	examples := parseDocExamples(t, "../README.md")
	if len(examples) < 5 {
		t.Fatalf("found %d examples in README.md, want at least 5", len(examples))
	}
	addr := startDaemon(t)
	for _, ex := range examples {
		if !strings.HasPrefix(ex.cmd, "curl ") {
			continue // set-up commands (go run, go tool task) are not API examples
		}
		cmd := strings.ReplaceAll(ex.cmd, "localhost:8080", addr)
		out, err := exec.Command("bash", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Errorf("README.md:%d: %s: %v\n%s", ex.line, ex.cmd, err, out)
			continue
		}
		if ex.want != "" && strings.TrimSpace(string(out)) != ex.want {
			t.Errorf("README.md:%d: %s\n got %s\nwant %s", ex.line, ex.cmd, out, ex.want)
		}
	}
}
