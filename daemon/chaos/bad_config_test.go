package chaos

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestBadConfig starts the real canopyd on each bad fixture of
// daemon/config (malformed YAML, unknown keys, wrong types, bad values): it
// must exit non-zero printing exactly one line that names the file and the
// line. A log path that does not exist and a glob that matches nothing are
// not fatal (docs: conf/canopyd.yaml, a file that appears later is
// followed) but must print one warning line naming the file and line.
func TestBadConfig(t *testing.T) {
	bin := testenv.BuildCanopyd(t)
	fixtures, err := filepath.Glob(filepath.Join("..", "config", "testdata", "bad", "*.yaml"))
	must(t, err)
	if len(fixtures) == 0 {
		t.Fatal("no bad fixtures in daemon/config/testdata/bad")
	}
	clear := 0
	for _, f := range fixtures {
		abs, err := filepath.Abs(f)
		must(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, bin, "-listen", testenv.FreePort(t), "-data", t.TempDir(), "-config", abs, "-pipes.builtin=false", "-default-source=false").CombinedOutput()
		cancel()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		ee, exited := err.(*exec.ExitError)
		where := regexp.MustCompile(regexp.QuoteMeta(abs) + `:\d+: `)
		switch {
		case !exited || ee.ExitCode() == 0:
			t.Errorf("%s: canopyd did not exit non-zero: %v\n%s", filepath.Base(f), err, out)
		case len(lines) != 1:
			t.Errorf("%s: %d lines of output, want one:\n%s", filepath.Base(f), len(lines), out)
		case !where.MatchString(lines[0]):
			t.Errorf("%s: %q does not name the file and line", filepath.Base(f), lines[0])
		default:
			clear++
		}
		t.Logf("%-24s exit %v: %s", filepath.Base(f), err, strings.TrimSpace(string(out)))
	}

	// Warnings: the daemon runs, and says once where the odd source is.
	dir := t.TempDir()
	warnCfg := filepath.Join(dir, "canopyd.yaml")
	must(t, os.WriteFile(warnCfg, []byte(fmt.Sprintf("# two sources that are not there\nsources:\n  - path: %q\n  - {path: %q, prefix: shop}\n",
		filepath.Join(dir, "missing", "access.log"), filepath.Join(dir, "shop-*.log"))), 0o644))
	want := []string{
		fmt.Sprintf("%s:3: sources[0]: log %q does not exist yet", warnCfg, filepath.Join(dir, "missing", "access.log")),
		fmt.Sprintf("%s:4: sources[1]: glob %q matches no file yet", warnCfg, filepath.Join(dir, "shop-*.log")),
	}
	cmd := exec.Command(bin, "-listen", testenv.FreePort(t), "-data", filepath.Join(dir, "data"), "-config", warnCfg, "-pipes.builtin=false", "-default-source=false")
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make([]int, len(want))
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		l := sc.Text()
		t.Logf("stderr: %s", l)
		for i, w := range want {
			if strings.Contains(l, w) {
				found[i]++
			}
		}
		if strings.Contains(l, "listening on http") {
			break
		}
	}
	warned := 0
	for i, n := range found {
		if n != 1 {
			t.Errorf("warning %q printed %d times before the daemon listened, want once", want[i], n)
		} else {
			warned++
		}
	}
	report(t, "%d bad configs: %d exit non-zero with one line naming file:line; missing log + empty glob: %d/2 warned once with file:line, daemon runs (docs: followed when they appear)", len(fixtures), clear, warned)
}
