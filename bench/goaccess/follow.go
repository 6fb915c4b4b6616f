package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/daemon/goaccess"
)

// followRun starts canopyd following an empty file, appends the log to it
// as fast as a writer can and times from the first write until the tree
// counts every valid request GoAccess found, with the daemon's CPU time
// over the same span. The daemon's final tree goes to out.
func (b *bench) followRun(bin, dir, conf, cache, logPath string, workers int, rep *goaccess.Report, out string) (timing, error) {
	fdir := filepath.Join(dir, fmt.Sprintf("follow-%d", workers))
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		return timing{}, err
	}
	followed := filepath.Join(fdir, "access.log")
	if err := os.WriteFile(followed, nil, 0o644); err != nil {
		return timing{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return timing{}, err
	}
	args := []string{"-listen", addr, "-data", filepath.Join(fdir, "data"), "-pipes.cache", cache, "-config", conf,
		"-log", followed, "-log.format", "combined"}
	if b.pipesDir != "" {
		args = append(args, "-pipes", b.pipesDir)
	}
	if workers > 0 {
		args = append(args, fmt.Sprintf("-pipes.workers=%d", workers))
	}
	if b.profile != "" {
		// The daemon's whole run (start-up on a warm cache and shutdown
		// are a small part), written when it stops.
		args = append(args, "-cpuprofile", b.followProfile())
	}
	logf, err := os.Create(filepath.Join(fdir, "canopyd.log"))
	if err != nil {
		return timing{}, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return timing{}, fmt.Errorf("cannot start canopyd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		select {
		case <-exited:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	fail := func(err error) (timing, error) {
		logf.Sync()
		daemonLog, _ := os.ReadFile(logf.Name())
		return timing{}, fmt.Errorf("canopyd following %s: %w\n%s", followed, err, tail(string(daemonLog)))
	}
	base := "http://" + addr
	if err := waitReady(base, exited); err != nil {
		return fail(err)
	}

	want := float64(rep.General.Valid)
	cpu0, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	wrote := make(chan error, 1)
	go func() { wrote <- appendLines(followed, logPath, b.stamp) }()
	var writeDur time.Duration
	last, lastChange := -1.0, time.Now()
	for {
		select {
		case err := <-wrote:
			if err != nil {
				return fail(err)
			}
			writeDur = time.Since(start)
		case err := <-exited:
			return fail(fmt.Errorf("canopyd exited: %v", err))
		default:
		}
		got, err := treeValue(base, "requests")
		if err != nil {
			return fail(err)
		}
		if got >= want {
			break
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > time.Minute {
			return fail(fmt.Errorf("stuck at %.0f of %.0f requests for a minute", got, want))
		}
		time.Sleep(10 * time.Millisecond)
	}
	el := time.Since(start)
	cpu1, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return fail(err)
	}
	if writeDur == 0 {
		if err := <-wrote; err != nil {
			return fail(err)
		}
	}
	fmt.Printf("\nwriter appended %d lines to %s in %.2fs\n", b.n, followed, writeDur.Seconds())
	body, err := get(base + "/get?key=" + "**")
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(out, body, 0o644); err != nil {
		return timing{}, err
	}
	return timing{wall: el, cpu: cpu1 - cpu0}, nil
}

// followProfile is where the follow run's CPU profile goes: beside the
// replay's.
func (b *bench) followProfile() string { return b.profile + ".follow" }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady waits until canopyd serves /status with every pipe loaded.
func waitReady(base string, exited <-chan error) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("canopyd exited: %v", err)
		default:
		}
		if body, err := get(base + "/status"); err == nil {
			var st struct {
				Pipes struct {
					Ready bool `json:"ready"`
				} `json:"pipes"`
			}
			if json.Unmarshal(body, &st) == nil && st.Pipes.Ready {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("pipes not ready after 5 minutes")
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// treeValue reads one key of the tree (0 while it does not exist).
func treeValue(base, key string) (float64, error) {
	body, err := get(base + "/get?key=" + key)
	if err != nil {
		return 0, err
	}
	var list []map[string]float64
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, fmt.Errorf("cannot parse canopyd's /get?key=%s: %w: %s", key, err, tail(string(body)))
	}
	for _, e := range list {
		if v, ok := e[key]; ok {
			return v, nil
		}
	}
	return 0, nil
}

// appendLines appends src to dst as fast as it can, in writes of whole
// lines, as a busy web server's log grows. With stamp each line's time
// is the time of its write, as nginx's are: the daemon then tails a live
// log. Without, the lines keep the generated log's times (three days
// past), which the daemon dates as a backlog, interval by interval.
func appendLines(dst, src string, stamp bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	carry := 0
	for {
		n, rerr := io.ReadFull(in, buf[carry:])
		end := carry + n
		cut := bytes.LastIndexByte(buf[:end], '\n') + 1
		if rerr != nil {
			cut = end // the end of the log: write what is left
		}
		if stamp {
			stampLines(buf[:cut], time.Now())
		}
		if _, err := out.Write(buf[:cut]); err != nil {
			out.Close()
			return fmt.Errorf("cannot append to %s: %w", dst, err)
		}
		carry = copy(buf, buf[cut:end])
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return out.Close()
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
}

// timeLocal is nginx's $time_local layout, as in "[05/Jan/2026:00:00:00 +0800]".
const timeLocal = "02/Jan/2006:15:04:05 -0700"

// stampLines overwrites the $time_local of each line in b (its first
// bracketed field, when it has that shape) with now, in place: the same
// length, so the lines' other bytes and validity stay as they were.
func stampLines(b []byte, now time.Time) {
	ts := now.Format(timeLocal)
	for len(b) > 0 {
		eol := bytes.IndexByte(b, '\n')
		if eol < 0 {
			eol = len(b)
		}
		line := b[:eol]
		if i := bytes.IndexByte(line, '['); i >= 0 && len(line) >= i+2+len(ts) && line[i+1+len(ts)] == ']' {
			if f := line[i+1 : i+1+len(ts)]; f[2] == '/' && f[6] == '/' && f[11] == ':' && f[20] == ' ' {
				copy(f, ts)
			}
		}
		b = b[min(eol+1, len(b)):]
	}
}

// procCPU is a process's user and system CPU time so far, from
// /proc/PID/stat (in clock ticks, 100 a second on Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cannot read canopyd's CPU time: %w", err)
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat: %q", pid, b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat: %q", pid, b)
	}
	return time.Duration(ut+st) * (time.Second / 100), nil
}
