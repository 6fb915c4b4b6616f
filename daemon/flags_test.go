package main

import (
	"bufio"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// documentedFlags reads docs/flags.md: the `-name` rows of the tables
// under each "## binary" heading.
func documentedFlags(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../docs/flags.md")
	if err != nil {
		t.Fatalf("cannot open docs/flags.md: %v", err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `-([^`]+)` \\|")
	out := map[string][]string{}
	bin := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			bin = h
		}
		if m := row.FindStringSubmatch(line); m != nil {
			out[bin] = append(out[bin], m[1])
		}
	}
	return out
}

// helpFlags runs bin -h and returns the flags it lists.
func helpFlags(t *testing.T, bin string) []string {
	t.Helper()
	cmd := exec.Command(bin, "-h")
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -h: %v\n%s", bin, err, out)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([^\s]+)`).FindAllStringSubmatch(string(out), -1) {
		names = append(names, m[1])
	}
	return names
}

// TestHelpFlags checks that -h of both binaries lists exactly the flags
// docs/flags.md documents, and none of the VictoriaMetrics library's
// (registered on flag.CommandLine in this process too, through the same
// imports).
func TestHelpFlags(t *testing.T) {
	var library []string
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		// -version is also canopyd's own (as `canopyd version`, checked
		// by TestVersion); the library's is never parsed.
		if !strings.HasPrefix(f.Name, "test.") && f.Name != "version" {
			library = append(library, f.Name)
		}
	})
	if len(library) < 10 {
		t.Fatalf("found %d library flags on flag.CommandLine (%v), want the ~23 VictoriaMetrics registers", len(library), library)
	}
	agent := filepath.Join(t.TempDir(), "canopy-agent")
	if out, err := exec.Command("go", "build", "-o", agent, "github.com/canopy-dev/canopy/cmd/canopy-agent").CombinedOutput(); err != nil {
		t.Fatalf("cannot build canopy-agent: %v\n%s", err, out)
	}
	docs := documentedFlags(t)
	for _, tc := range []struct{ name, bin string }{
		{"canopyd", testenv.BuildCanopyd(t)},
		{"canopy-agent", agent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := helpFlags(t, tc.bin)
			doc := docs[tc.name]
			if len(got) == 0 || len(doc) == 0 {
				t.Fatalf("%s -h lists %d flags, docs/flags.md %d; want some in both", tc.name, len(got), len(doc))
			}
			for _, f := range got {
				if slices.Contains(library, f) {
					t.Errorf("%s -h lists -%s, a VictoriaMetrics flag", tc.name, f)
				} else if !slices.Contains(doc, f) {
					t.Errorf("%s -h lists -%s, which docs/flags.md does not document", tc.name, f)
				}
			}
			for _, f := range doc {
				if !slices.Contains(got, f) {
					t.Errorf("docs/flags.md documents %s -%s, which -h does not list", tc.name, f)
				}
			}
		})
	}
}

// TestVersion builds canopyd the way the package does (-ldflags -X) and
// checks that `canopyd version` and `canopyd -version` name the version,
// the commit and every embedded pipe and module by its sha256 prefix.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "canopyd")
	ldflags := "-X github.com/canopy-dev/canopy/daemon/app.buildVersion=9.8.7~test -X github.com/canopy-dev/canopy/daemon/app.buildCommit=feedc0ffee42"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "github.com/canopy-dev/canopy/cmd/canopyd").CombinedOutput(); err != nil {
		t.Fatalf("cannot build canopyd: %v\n%s", err, out)
	}
	var want []string
	for _, glob := range []string{"../pipes-wasm/*.wasm", "../pipes-wasm/modules/*.wasm"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			want = append(want, fmt.Sprintf("%s sha256:%x %d bytes", strings.TrimSuffix(filepath.Base(f), ".wasm"), sum[:6], len(b)))
		}
	}
	if len(want) < 10 {
		t.Fatalf("found %d committed .wasm files, want the built-ins", len(want))
	}
	for _, args := range [][]string{{"version"}, {"-version"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "/"
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("canopyd %v: %v", args, err)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(string(out), "\n") {
			lines[strings.Join(strings.Fields(l), " ")] = true
		}
		for _, w := range append([]string{"canopyd 9.8.7~test", "commit feedc0ffee42"}, want...) {
			if !lines[w] {
				t.Errorf("canopyd %v lacks the line %q:\n%s", args, w, out)
			}
		}
	}
}
