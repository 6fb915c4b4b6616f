// Command startup times canopyd's start: from exec to the first 200 on
// /status, and to every built-in pipe ready (/status pipes.ready), with an
// empty WASM compilation cache (cold) and with the cache the cold runs left
// (warm). Run it with `go tool -modfile=tools/go.mod task bench:startup`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 5, "runs of each kind (cold, warm)")
	bin := flag.String("bin", "", "canopyd binary (default: go build ./daemon into the work folder)")
	target := flag.Duration("target", time.Second, "time to the first 200 on /status to reach, cold")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*n, *bin, *target); err != nil {
		log.Fatalf("bench:startup: %v", err)
	}
}

// timing is one start: time to the first 200 on /status and to every pipe
// loaded, and the CPU the process had used by then (the machine may be
// shared: CPU time does not depend on the load).
type timing struct{ first, ready, cpu time.Duration }

func run(n int, bin string, target time.Duration) error {
	dir, err := os.MkdirTemp("", "bench-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "canopyd")
		if out, err := exec.Command("go", "build", "-o", bin, "./daemon").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./daemon: %v\n%s", err, out)
		}
	}
	conf := filepath.Join(dir, "canopyd.yaml")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		return err
	}
	var cold, warm []timing
	cache := ""
	for i := range n {
		cache = filepath.Join(dir, fmt.Sprintf("cache-%d", i))
		t, err := start(bin, conf, filepath.Join(dir, fmt.Sprintf("cold-%d", i)), cache)
		if err != nil {
			return fmt.Errorf("cold run %d: %w", i+1, err)
		}
		cold = append(cold, t)
	}
	for i := range n {
		t, err := start(bin, conf, filepath.Join(dir, fmt.Sprintf("warm-%d", i)), cache)
		if err != nil {
			return fmt.Errorf("warm run %d: %w", i+1, err)
		}
		warm = append(warm, t)
	}
	fmt.Printf("canopyd start, every built-in pipe, %d runs each (median [min-max])\n", n)
	report := func(what string, ts []timing) time.Duration {
		first := stats(ts, func(t timing) time.Duration { return t.first })
		ready := stats(ts, func(t timing) time.Duration { return t.ready })
		cpu := stats(ts, func(t timing) time.Duration { return t.cpu })
		fmt.Printf("%-28s first 200 on /status %s   all pipes ready %s   CPU by then %s\n", what, first, ready, cpu)
		return first.median
	}
	c := report("cold (empty WASM cache):", cold)
	report("warm (cache filled):", warm)
	verdict := "MET"
	if c > target {
		verdict = "NOT MET"
	}
	fmt.Printf("cold time to first 200: %v (target <= %v: %s)\n", c.Round(time.Millisecond), target, verdict)
	return nil
}

type summary struct{ median, lo, hi time.Duration }

func (s summary) String() string {
	return fmt.Sprintf("%6.3fs [%.3f-%.3f]", s.median.Seconds(), s.lo.Seconds(), s.hi.Seconds())
}

func stats(ts []timing, f func(timing) time.Duration) summary {
	ds := make([]time.Duration, len(ts))
	for i, t := range ts {
		ds[i] = f(t)
	}
	slices.Sort(ds)
	return summary{median: ds[len(ds)/2], lo: ds[0], hi: ds[len(ds)-1]}
}

// start runs canopyd on a fresh data folder and the given cache until
// every pipe is ready, then stops it.
func start(bin, conf, data, cache string) (timing, error) {
	addr, err := freePort()
	if err != nil {
		return timing{}, err
	}
	logf, err := os.Create(data + ".log")
	if err != nil {
		return timing{}, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-listen", addr, "-data", data, "-config", conf, "-pipes.cache", cache, "-default-source=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return timing{}, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	var t timing
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := begin.Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/status")
		if err != nil {
			continue
		}
		var st struct {
			Pipes struct {
				// Ready is absent before canopyd loaded pipes in the
				// background: /status then answered only once they were.
				Ready *bool `json:"ready"`
			} `json:"pipes"`
		}
		ok := resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&st) == nil
		resp.Body.Close()
		if !ok {
			continue
		}
		now := time.Since(begin)
		if t.first == 0 {
			t.first = now
		}
		if st.Pipes.Ready == nil || *st.Pipes.Ready {
			t.ready = now
			t.cpu, err = cpuTime(cmd.Process.Pid)
			return t, err
		}
	}
	return t, fmt.Errorf("canopyd did not get ready within 3 minutes (log %s.log)", data)
}

// cpuTime is the user+system CPU pid has used, from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cannot read the CPU time of canopyd: %w", err)
	}
	// Fields after the command (in parentheses, may hold spaces): utime
	// and stime are the 12th and 13th, in clock ticks (USER_HZ, 100 on
	// Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	return time.Duration(u+k) * 10 * time.Millisecond, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
