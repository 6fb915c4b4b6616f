package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// BenchmarkAgentResources measures canopy-agent with every built-in module
// (cpu, mem, load, net, disk, nginx, url, accesslog; the example configs,
// collect_every 10 s) pushing into canopyd, and gmond with its default
// metrics beside it in the same run: CPU in percent of one core and RSS.
// Run it with `go tool -modfile=tools/go.mod task bench:agent`
// (AGENT_BENCH_DURATION, default 2m; AGENT_BENCH_PERF=FILE keeps a perf
// profile of the agent).
func BenchmarkAgentResources(b *testing.B) {
	dur := 2 * time.Minute
	if s := os.Getenv("AGENT_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		dur = d
	}
	for i := 0; i < b.N; i++ {
		runResources(b, dur)
	}
}

func runResources(b *testing.B, dur time.Duration) {
	ngx := startNginx(b)
	status, page := "http://"+ngx+"/nginx_status", "http://"+ngx+"/"
	addr := testenv.FreePort(b)
	daemon(b, addr, filepath.Join(b.TempDir(), "data"))
	log := filepath.Join(b.TempDir(), "access.log")
	os.WriteFile(log, nil, 0o644)
	confs := map[string]string{}
	for _, n := range []string{"cpu", "mem", "load", "net", "disk"} {
		confs[n+".conf"] = readConf(b, n+".conf")
	}
	replace := func(src, from, to string) string { return strings.ReplaceAll(src, from, to) }
	confs["nginx.conf"] = replace(readConf(b, "nginx.conf.off"), "http://127.0.0.1/nginx_status", status)
	confs["url.conf"] = replace(readConf(b, "url.conf.off"), "http://127.0.0.1/", page)
	confs["accesslog.conf"] = replace(readConf(b, "accesslog.conf.off"), "/var/log/nginx/access.log", log)
	s := newAgentSetup(b, confs)
	a := s.start(b, "http://"+addr, 10*time.Second, "")
	waitLog(b, a, 3*time.Minute, "loaded 8 modules")
	pids := map[string]int{"agent": a.cmd.Process.Pid}
	procs := map[string]*proc{"agent": a}
	names := []string{"agent"}
	// A second agent beside the first, for same-run comparisons: another
	// build (AGENT_BENCH_B_BIN), another builtin.wasm (AGENT_BENCH_B_WASM)
	// and/or other environment variables (AGENT_BENCH_B_ENV="GOGC=50 ...").
	if bbin, benv := os.Getenv("AGENT_BENCH_B_BIN"), os.Getenv("AGENT_BENCH_B_ENV"); bbin != "" || benv != "" || os.Getenv("AGENT_BENCH_B_WASM") != "" {
		if bbin == "" {
			_, bbin = binaries(b)
		}
		sb := newAgentSetup(b, confs)
		if w := os.Getenv("AGENT_BENCH_B_WASM"); w != "" { // another builtin.wasm for it
			raw, err := os.ReadFile(w)
			if err != nil {
				b.Fatal(err)
			}
			os.WriteFile(filepath.Join(sb.modules, "builtin.wasm"), raw, 0o644)
		}
		ab := startEnv(b, "canopy-agent-b", sb.dir, strings.Fields(benv), bbin, "-config", sb.conf(b, ""),
			"-server", "http://"+addr, "-every", "10s", "-host", "testhost-b")
		waitLog(b, ab, 3*time.Minute, "loaded 8 modules")
		pids["agent_b"] = ab.cmd.Process.Pid
		procs["agent_b"] = ab
		names = append(names, "agent_b")
		b.Logf("agent_b: %s %s", benv, bbin)
	}

	// gmond with its default configuration (37 metrics), on loopback.
	gbin := testenv.NeedCommand(b, "gmond", "ganglia-monitor")
	def, err := exec.Command(gbin, "-t").Output()
	if err != nil {
		b.Fatal(err)
	}
	_, tcpPort, _ := strings.Cut(testenv.FreePort(b), ":")
	_, udpPort, _ := strings.Cut(testenv.FreePort(b), ":")
	g := string(def)
	g = strings.Replace(g, "daemonize = yes", "daemonize = no", 1)
	g = strings.Replace(g, "setuid = yes", "setuid = no\n  module_dir = \""+gangliaModuleDir(b)+"\"", 1)
	g = regexp.MustCompile(`(?s)udp_send_channel \{.*?\n\}`).ReplaceAllString(g, "udp_send_channel { host = 127.0.0.1 port = "+udpPort+" ttl = 1 }")
	g = regexp.MustCompile(`(?s)udp_recv_channel \{.*?\n\}`).ReplaceAllString(g, "udp_recv_channel { bind = 127.0.0.1 port = "+udpPort+" }")
	g = regexp.MustCompile(`(?s)tcp_accept_channel \{.*?\n\}`).ReplaceAllString(g, "tcp_accept_channel { bind = 127.0.0.1 port = "+tcpPort+" }")
	gdir := b.TempDir()
	os.WriteFile(filepath.Join(gdir, "gmond.conf"), []byte(g), 0o644)
	gm := start(b, "gmond", gdir, gbin, "-c", filepath.Join(gdir, "gmond.conf"), "-f")

	// Some traffic so nginx, url and accesslog have work.
	stop := make(chan struct{})
	go func() {
		f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		defer f.Close()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if resp, err := http.Get(page); err == nil {
					resp.Body.Close()
				}
				fmt.Fprintf(f, "127.0.0.1 - - [26/Nov/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"bench\"\n")
			}
		}
	}()
	defer close(stop)

	time.Sleep(15 * time.Second) // past start-up and the first rounds
	pids["gmond"] = gm.cmd.Process.Pid
	names = append(names, "gmond")
	cpu0, run0, wake0 := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for n, p := range pids {
		cpu0[n] = cpuSeconds(b, p)
		run0[n], wake0[n] = runSeconds(b, p)
	}
	// AGENT_BENCH_PERF=FILE records the agent with perf over the measured
	// window (for where the time goes; the figures of such a run include
	// perf's own interrupts).
	if out := os.Getenv("AGENT_BENCH_PERF"); out != "" {
		perf := exec.Command("perf", "record", "-g", "-F", "999", "-o", out, "-p", strconv.Itoa(pids["agent"]))
		if err := perf.Start(); err != nil {
			b.Fatalf("cannot start perf: %v", err)
		}
		defer func() { perf.Process.Signal(os.Interrupt); perf.Wait() }()
	}
	rssMax, rssSum := map[string]float64{}, map[string]float64{}
	samples := 0
	start := time.Now()
	b.ResetTimer()
	for time.Since(start) < dur {
		time.Sleep(time.Second)
		samples++
		for n, p := range pids {
			r := rssMB(b, p)
			rssSum[n] += r
			rssMax[n] = max(rssMax[n], r)
		}
	}
	elapsed := time.Since(start).Seconds()
	b.StopTimer()
	for _, n := range names {
		cpu := (cpuSeconds(b, pids[n]) - cpu0[n]) / elapsed * 100
		runS, wakes := runSeconds(b, pids[n])
		run := (runS - run0[n]) / elapsed * 100
		wakes = (wakes - wake0[n]) / elapsed
		b.ReportMetric(cpu, n+"_cpu_%")
		b.ReportMetric(run, n+"_run_%")
		b.ReportMetric(wakes, n+"_runs/s")
		b.ReportMetric(rssMax[n], n+"_rss_max_MB")
		b.ReportMetric(rssSum[n]/float64(samples), n+"_rss_avg_MB")
		b.Logf("%s: %.3f %% of one core (%.4f %% by schedstat, %.1f runs/s), RSS avg %.1f MB, max %.1f MB over %.0f s",
			n, cpu, run, wakes, rssSum[n]/float64(samples), rssMax[n], elapsed)
	}
	// With GODEBUG=gctrace=1 in the environment: the agents' GC cycles.
	for n, p := range procs {
		if gcs := strings.Count(p.Output(), "\ngc "); gcs > 0 {
			b.Logf("%s: %d GC cycles since start", n, gcs)
		}
	}
	beats := get(b, addr, "nginx,testhost,requests")
	b.Logf("tree check: %v", beats)
}

// cpuSeconds is utime+stime of pid from /proc/PID/stat.
func cpuSeconds(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// runSeconds is the time pid's threads ran and how many times they were
// scheduled in (wake-ups, mostly), from /proc/PID/task/*/schedstat
// (nanoseconds, where /proc/PID/stat counts 10 ms ticks: at 0.05 % of a
// core a 3-minute run is 9 ticks). Threads that exited are not counted;
// the agent's and gmond's threads live as long as the process.
func runSeconds(b *testing.B, pid int) (seconds, runs float64) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("no schedstat for pid %d: %v", pid, err)
	}
	var ns float64
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue // the thread just exited
		}
		f := strings.Fields(string(raw))
		if len(f) == 3 {
			v, _ := strconv.ParseFloat(f[0], 64)
			r, _ := strconv.ParseFloat(f[2], 64)
			ns += v
			runs += r
		}
	}
	return ns / 1e9, runs
}

// rssMB is VmRSS of pid in MB.
func rssMB(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}
