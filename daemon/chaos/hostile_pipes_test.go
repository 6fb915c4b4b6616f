package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// hostilePipe is one file dropped into the live pipes folder.
type hostilePipe struct {
	name string // file NAME.wasm and the row's name
	// why is a piece of the quarantine reason that shows the right cause
	// (not, say, a half-written file); |-separated alternatives.
	why string
	// build makes the file's content in dir: a guest from testdata, or
	// bytes that are no module at all.
	build func(dir string) error
	// drop, when set, makes the file at path in the pipes folder itself
	// (files that cannot be copied: a named pipe, a symlink).
	drop func(path string) error
}

// pipeState is one file's entry of /status "pipes".
type pipeState struct {
	File             string `json:"file"`
	Loaded           bool   `json:"loaded"`
	LoadError        string `json:"load_error"`
	Quarantined      bool   `json:"quarantined"`
	QuarantineReason string `json:"quarantine_reason"`
	Failures         uint64 `json:"failures"`
	Records          uint64 `json:"records"`
}

// pipesStatus reads /status: the pipes section, the tree's node count and
// the raw body (for the leak check).
func pipesStatus(t testing.TB, base string) (map[string]pipeState, int, []byte) {
	t.Helper()
	code, b, _ := do(t, "GET", base+"/status", nil)
	if code != 200 {
		t.Fatalf("/status: %d %s", code, b)
	}
	var st struct {
		Nodes int `json:"nodes"`
		Pipes struct {
			Pipes []pipeState `json:"pipes"`
		} `json:"pipes"`
	}
	must(t, json.Unmarshal(b, &st))
	out := map[string]pipeState{}
	for _, p := range st.Pipes.Pipes {
		out[p.File] = p
	}
	return out, st.Nodes, b
}

// guest builds the testdata package pkg (with ldflags) as NAME.wasm.
func guest(name, why, pkg string, ldflags ...string) hostilePipe {
	return hostilePipe{name: name, why: why, build: func(dir string) error {
		return pipetest.BuildWASM(filepath.Join("testdata", pkg), filepath.Join(dir, name+".wasm"), ldflags...)
	}}
}

func rawFile(name, why string, content []byte) hostilePipe {
	return hostilePipe{name: name, why: why, build: func(dir string) error {
		return os.WriteFile(filepath.Join(dir, name+".wasm"), content, 0o644)
	}}
}

func special(name, why string, drop func(path string) error) hostilePipe {
	return hostilePipe{name: name, why: why, drop: drop}
}

// hostileNodeCap is where the test stops a run that lets a pipe's keys
// grow the tree unchecked (before it takes the machine's memory).
const hostileNodeCap = 3_000_000

// keysCap is the keys pipe's max_keys.
const keysCap = 100_000

// TestHostilePipes: a live canopyd follows a log with the status and bytes
// pipes while hostile pipes are dropped into its pipes folder one at a
// time (each stays there): each must end quarantined or refused with its
// reason in /status, the good pipes' counts stay exact against the lines
// written, nothing of /etc/passwd shows in the tree or /status, and the
// socket attack reaches no listener.
func TestHostilePipes(t *testing.T) {
	const rate = 2000 // lines per second
	// The socket attack dials this listener: any connection is a breach.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	var breaches atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			breaches.Add(1)
			c.Close()
		}
	}()

	hostiles := []hostilePipe{
		guest("loop", "time limit", "hostile", "-X main.mode=loop"),
		guest("membomb", "out of memory|time limit", "hostile", "-X main.mode=membomb"),
		guest("trap", "nil pointer dereference", "hostile", "-X main.mode=trap"),
		guest("garbage", "malformed deltas", "garbage"),
		guest("keys", "max_keys", "hostile", "-X main.mode=keys"),
		guest("passwd", "sandbox held", "hostile", "-X main.mode=passwd"),
		guest("socket", "sandbox held", "hostile", "-X main.mode=socket"),
		rawFile("notwasm", "not a WebAssembly module", []byte("#!/bin/sh\ncat /etc/passwd\n")),
		rawFile("empty", "is empty (0 bytes)", nil),
		// Reading a named pipe blocks until someone writes to it.
		special("fifo", "not a regular file", func(path string) error { return syscall.Mkfifo(path, 0o644) }),
		// A sparse 1 GiB file: read whole, it would take the memory.
		special("huge", "more than the", func(path string) error {
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(1 << 30)
		}),
		special("symlink", "not a WebAssembly module", func(path string) error { return os.Symlink("/etc/passwd", path) }),
	}
	bin := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, len(hostiles))
	sem := make(chan struct{}, 2) // the machine's other tests need the cores too
	for i, h := range hostiles {
		if h.build == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = h.build(bin)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}

	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	must(t, os.WriteFile(logPath, nil, 0o644))
	// keys gets a tenth of the default key cap (pipes.DefaultMaxKeys) so
	// its run stays short, and time enough that only the cap stops it.
	d := startDaemon(t, fmt.Sprintf("sources:\n  - {path: %q, log_format: combined}\npipes:\n  config:\n    keys: {max_keys: %d, timeout: 10s}\n    socket: {params: {target: %q}}\n",
		logPath, keysCap, ln.Addr().String()), []string{"status", "bytes"})
	base := d.URL()

	// The writer appends at a steady rate until stopped; written and
	// wantBytes are what the good pipes must count.
	var written, wantBytes atomic.Int64
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var bytes int64
		for i := 0; ; {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
			}
			for range rate / 100 {
				w.WriteString(accessLine(i))
				bytes += int64(100 + i%900)
				i++
			}
			if err := w.Flush(); err != nil {
				done <- err
				return
			}
			written.Store(int64(i))
			wantBytes.Store(bytes)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()

	time.Sleep(2 * time.Second) // the good pipes warm up
	peak := rssMiB(t, d.PID())
	t.Logf("RSS with the good pipes: %.0f MiB", peak)
	for _, h := range hostiles {
		t.Run(h.name, func(t *testing.T) {
			file := h.name + ".wasm"
			start := time.Now()
			if h.drop != nil {
				must(t, h.drop(filepath.Join(d.Pipes, file)))
			} else {
				src, err := os.ReadFile(filepath.Join(bin, file))
				must(t, err)
				start = time.Now()
				// Dropped as a careless user would: written in place, so
				// the scanner may see it half-written.
				must(t, os.WriteFile(filepath.Join(d.Pipes, file), src, 0o644))
			}
			var p pipeState
			var nodes int
			for deadline := start.Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				var st map[string]pipeState
				st, nodes, _ = pipesStatus(t, base)
				peak = max(peak, rssMiB(t, d.PID()))
				p = st[file]
				if p.Quarantined && p.QuarantineReason != "" {
					break
				}
				if nodes > hostileNodeCap {
					t.Fatalf("%s grew the tree to %d nodes and is not quarantined: %+v", file, nodes, p)
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s not contained after 60 s: %+v", file, p)
				}
			}
			took := time.Since(start)
			if !slices.ContainsFunc(strings.Split(h.why, "|"), func(w string) bool { return strings.Contains(p.QuarantineReason, w) }) {
				t.Errorf("%s quarantined for the wrong reason (want %q): %s", file, h.why, p.QuarantineReason)
			}
			rss := rssMiB(t, d.PID())
			reason := strings.ReplaceAll(p.QuarantineReason, d.Pipes+string(filepath.Separator), "")
			st, _, _ := pipesStatus(t, base)
			for _, good := range []string{"status.wasm", "bytes.wasm"} {
				if g := st[good]; !g.Loaded || g.Quarantined || g.Failures != 0 {
					t.Errorf("good pipe %s after %s: %+v", good, file, g)
				}
			}
			t.Logf("%s: %d failures, quarantined in %v, RSS %.0f MiB (peak %.0f): %s", file, p.Failures, took.Round(time.Millisecond), rss, peak, p.QuarantineReason)
			report(t, "quarantined in %.1fs after %d failures, tree %d nodes, RSS %.0f MiB: %s", took.Seconds(), p.Failures, nodes, rss, trunc(reason, 150))
		})
	}

	close(stop)
	must(t, <-done)
	lines, bytes := float64(written.Load()), float64(wantBytes.Load())
	waitNumber(t, base, "requests", lines, 60*time.Second)
	time.Sleep(time.Second) // anything counted twice would show by now
	want := map[string]float64{"requests": lines, "status,200": lines, "bytes,total": bytes}
	for k, w := range want {
		if g := getNumber(t, base, k); g != w {
			t.Errorf("%s = %.0f, want %.0f (the lines written): %+.0f", k, g, w, g-w)
		}
	}
	got := getNumber(t, base, "requests")

	// No leak: the host's passwd lines appear nowhere the daemon answers.
	passwd, err := os.ReadFile("/etc/passwd")
	must(t, err)
	_, nodes, stBody := pipesStatus(t, base)
	resp, err := client.Get(base + "/get/**")
	must(t, err)
	tree, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err)
	leaks := 0
	for _, l := range strings.Split(strings.TrimSpace(string(passwd)), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		for _, body := range [][]byte{stBody, tree} {
			if strings.Contains(string(body), l) {
				leaks++
				t.Errorf("a line of /etc/passwd leaks: %q", l)
			}
		}
	}
	if n := breaches.Load(); n != 0 {
		t.Errorf("the socket pipe reached the test's listener %d times", n)
	}
	if peak > rssCapMiB {
		t.Errorf("RSS peaked at %.0f MiB, over the %d MiB cap", peak, rssCapMiB)
	}
	report(t, "%d hostile pipes dropped into a live follow of %.0f lines: requests %.0f, status,200 and bytes,total exact; tree %d nodes; %d passwd leaks; %d socket breaches; RSS peak %.0f MiB (cap %d)",
		len(hostiles), lines, got, nodes, leaks, breaches.Load(), peak, rssCapMiB)
}
