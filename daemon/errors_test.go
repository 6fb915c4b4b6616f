package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// TestStartErrors drives the built canopyd with a bad -pipes folder, a bad
// config and an unreadable or missing log. What stops the daemon from
// doing its job as asked ends it at once with exit status 1 and exactly one
// line on stderr naming the path and the reason; a log it cannot read yet
// is one line too, and the daemon keeps serving (the log is followed once
// readable, and /status says why not). Unreadable files need a user other
// than root: as root, canopyd runs as nobody.
func TestStartErrors(t *testing.T) {
	dir, err := os.MkdirTemp("", "canopy-errors-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Reachable by nobody: the binary, the files, a writable data folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "canopyd")
	data, err := os.ReadFile(testenv.BuildCanopyd(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	for _, d := range []string{"noread", "data", "cache"} {
		if err := os.Mkdir(path(d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, path("file"), "x\n")
	writeFile(t, path("canopyd.yaml"), "# empty\n")
	writeFile(t, path("noread.yaml"), "# empty\n")
	writeFile(t, path("noread.log"), "x\n")
	for _, p := range []string{"noread", "noread.yaml", "noread.log"} {
		if err := os.Chmod(path(p), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"data", "cache"} {
		if err := os.Chmod(path(p), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		fatal  bool   // exits 1 with only this line
		stderr string // the line (after the log's time prefix when not fatal)
	}{
		{"pipes missing", []string{"-pipes", path("missing")}, true,
			`canopyd: cannot use pipes folder "` + path("missing") + `": no such file or directory`},
		{"pipes not a folder", []string{"-pipes", path("file")}, true,
			`canopyd: cannot use pipes folder "` + path("file") + `": not a directory`},
		{"pipes unreadable", []string{"-pipes", path("noread")}, true,
			`canopyd: cannot read pipes folder "` + path("noread") + `": permission denied`},
		{"config missing", []string{"-config", path("missing.yaml")}, true,
			`canopyd: cannot read config "` + path("missing.yaml") + `": no such file or directory`},
		{"config unreadable", []string{"-config", path("noread.yaml")}, true,
			`canopyd: cannot read config "` + path("noread.yaml") + `": permission denied`},
		{"log unreadable", []string{"-log", path("noread.log")}, false,
			`ingest: cannot read log "` + path("noread.log") + `": permission denied; it is followed once readable`},
		{"log missing", []string{"-log", path("missing.log")}, false,
			`ingest: -log: log "` + path("missing.log") + `" does not exist yet; it is followed once it appears`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testenv.FreePort(t)
			args := append([]string{"-listen", addr, "-data", path("data"), "-pipes.cache", path("cache"),
				"-config", path("canopyd.yaml"), "-default-source=false"}, tc.args...)
			cmd := exec.Command(bin, args...)
			cmd.Dir = "/"
			if os.Geteuid() == 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if tc.fatal {
				err := cmd.Run()
				code := -1
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
				if got := strings.TrimSuffix(stderr.String(), "\n"); code != 1 || got != tc.stderr {
					t.Errorf("canopyd %v: exit %d, stderr\n%s\nwant exit 1 and only\n%s", tc.args, code, got, tc.stderr)
				}
				return
			}
			// Not compiling the built-in pipes keeps the case short.
			cmd.Args = append(cmd.Args, "-pipes.builtin=false")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			if !testenv.Answers("http://"+addr+"/status", time.Minute) {
				t.Fatalf("canopyd %v does not serve; stderr:\n%s", tc.args, stderr.String())
			}
			time.Sleep(time.Second) // a few -log.poll rounds: the line is said once, not each round
			st := status(t, addr)
			cmd.Process.Kill()
			cmd.Wait()
			n := 0
			for _, l := range strings.Split(stderr.String(), "\n") {
				if strings.HasSuffix(l, " "+tc.stderr) {
					n++
				}
				if strings.Contains(l, "panic") || strings.HasPrefix(l, "goroutine ") {
					t.Errorf("stderr has a crash: %s", l)
				}
			}
			if n != 1 {
				t.Errorf("canopyd %v: stderr has %d lines ending in\n%s\nwant 1; stderr:\n%s", tc.args, n, tc.stderr, stderr.String())
			}
			if tc.name == "log unreadable" && !strings.Contains(st, `"error":"permission denied"`) {
				t.Errorf("/status does not say why the log is not read:\n%s", st)
			}
		})
	}
}

// status returns /status's ingest section as JSON text.
func status(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return string(st["ingest"])
}
