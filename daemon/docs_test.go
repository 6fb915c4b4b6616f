package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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

// TestReadmeExamples runs the README's curl examples, in order, against a
// live daemon and checks the outputs the README shows.
func TestReadmeExamples(t *testing.T) {
	testenv.NeedCommand(t, "curl", "curl")
	examples := parseDocExamples(t, "../README.md")
	if len(examples) < 5 {
		t.Fatalf("found %d examples in README.md, want at least 5", len(examples))
	}
	conf := filepath.Join(t.TempDir(), "canopyd.yaml")
	writeFile(t, conf, "# empty: defaults only\n")
	// The README's examples push JSON only: no pipes, no default source.
	addr := testenv.StartCanopyd(t, testenv.BuildCanopyd(t), "-data", t.TempDir(), "-config", conf,
		"-default-source=false", "-pipes.builtin=false", "-pipes", t.TempDir()).Addr
	for _, ex := range examples {
		if !strings.HasPrefix(ex.cmd, "curl ") {
			continue // set-up commands (go run, go tool -modfile=tools/go.mod task) are not API examples
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
