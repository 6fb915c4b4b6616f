//go:build bench && linux

package api

// The long-poll benchmark (go tool -modfile=tools/go.mod task bench:pull): 10,000 clients hold
// /pull on one key of a server in a child process (this test binary
// re-run) while a pusher POSTs a new node under that key 10 times a second
// for 60 s. Each client passes back the version it got, records when every
// pushed node reached it, and must see every one exactly once. Latency runs
// from just before the push is sent to the client having read the answer.
//
// Knobs: PULL_CLIENTS (a count, or a list run one after another),
// PULL_SECONDS, PULL_MODE=sse, PULL_CLIENT=nethttp
// (net/http's client instead of the raw one, for either mode),
// PULL_CLIENT_PROCS (clients' GOMAXPROCS, and epoll sets), PULL_PROFILE and
// PULL_PROFILE_SECONDS (server CPU profile), PULL_CLIENT_PROFILE, PULL_DEBUG
// (the slowest versions). The machine has 2 cores shared by server, clients
// and anything else running: the report gives each one's CPU.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// pullResult is what one client saw.
type pullResult struct {
	lat    []time.Duration // delivery latencies, in arrival order
	ver    []uint16        // the pushed node of each latency
	seen   []uint16        // deliveries per pushed node
	errors int
	polls  int
}

func (r *pullResult) record(i int, now int64, sentAt []atomic.Int64) {
	r.seen[i]++
	r.lat = append(r.lat, time.Duration(now-sentAt[i].Load()))
	r.ver = append(r.ver, uint16(i))
}

// scan records every pushed node ("bench,sN") in a flat-list answer. The
// clients share the CPU with the server: scan for the keys instead of
// decoding the JSON.
func (r *pullResult) scan(body []byte, pushes int, now int64, sentAt []atomic.Int64) {
	for rest := body; ; {
		j := bytesIndex(rest, `"bench,s`)
		if j < 0 {
			return
		}
		rest = rest[j+len(`"bench,s`):]
		k := 0
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		i, err := strconv.Atoi(string(rest[:k]))
		if err != nil || i < 0 || i >= pushes {
			continue
		}
		r.record(i, now, sentAt)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// pullSummary is one run's line in the table TestBenchPull ends with.
type pullSummary struct {
	clients          int
	p50, p99         time.Duration
	server, client   float64 // CPU µs per response or event
	rawFloor, idleMs float64 // raw loopback floor (µs); one version's fan-out on idle cores (ms)
}

func TestBenchPull(t *testing.T) {
	// PULL_CLIENTS is one count or several ("1000,2000,5000,10000"), run
	// one after another, each with its own server, and summed up in a
	// table.
	counts := []int{10000}
	if v := os.Getenv("PULL_CLIENTS"); v != "" {
		counts = counts[:0]
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				t.Fatalf("PULL_CLIENTS=%q: %q is not a client count", v, f)
			}
			counts = append(counts, n)
		}
	}
	var sums []pullSummary
	for _, n := range counts {
		t.Run(strconv.Itoa(n), func(t *testing.T) { sums = append(sums, benchPull(t, n)) })
	}
	mode := "long-poll"
	if os.Getenv("PULL_MODE") == "sse" {
		mode = "event stream"
	}
	fmt.Printf("\n%s: clients, delivery p50, p99; CPU µs per response or event: server, clients, raw loopback floor; one version on idle cores\n", mode)
	for _, r := range sums {
		fmt.Printf("%6d  p50 %8v  p99 %8v  server %5.1f  clients %5.1f  floor %5.1f  idle %4.0f ms\n",
			r.clients, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.server, r.client, r.rawFloor, r.idleMs)
	}
}

// benchPull is one run of TestBenchPull with that many clients.
func benchPull(t *testing.T, clients int) (sum pullSummary) {
	sum.clients = clients
	// One socket per client on each side: raise the soft fd limit to the
	// hard one here; the server child inherits it.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("cannot raise the open-file limit to %d: %v", lim.Max, err)
		}
	}
	if need := uint64(clients) + 200; lim.Cur < need {
		t.Fatalf("%d clients need %d open files, the limit is %d", clients, need, lim.Cur)
	}
	pushes := envInt("PULL_SECONDS", 60) * 10
	// PULL_MODE=sse runs the same load over Server-Sent Events.
	sse := os.Getenv("PULL_MODE") == "sse"
	// The clients speak HTTP/1.1 over their own keep-alive connection with
	// a hand-written request and a minimal response parser, on raw
	// sockets read through epoll (bench_pull_raw_test.go): they share the
	// 2 cores with the server, and net/http's client (three goroutines and
	// a dozen allocations per request) took more CPU than the server it
	// measured. PULL_CLIENT=nethttp uses net/http.
	netHTTP := os.Getenv("PULL_CLIENT") == "nethttp"
	// PULL_CLIENT_PROCS caps the clients' GOMAXPROCS (the server child keeps
	// the default).
	if n := envInt("PULL_CLIENT_PROCS", 0); n > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	}
	addr := testenv.FreePort(t)
	child := exec.Command(os.Args[0], "-test.run", "^TestBenchPullServer$")
	child.Env = append(os.Environ(), "CANOPY_PULL_SERVER="+addr)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	base := "http://" + addr
	if !testenv.Answers(base+"/status", 30*time.Second) {
		t.Fatalf("%s did not answer", base)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: clients + 10, MaxConnsPerHost: 0, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	defer tr.CloseIdleConnections()

	// The pusher records when each node is sent; clients read it.
	sentAt := make([]atomic.Int64, pushes)
	var stop atomic.Bool
	pushRTT := make([]atomic.Int64, pushes)
	results := make([]pullResult, clients)
	res0, err := hc.Get(base + "/get/bench")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res0.Body)
	res0.Body.Close()
	v0 := res0.Header.Get("X-Canopy-Version")

	for c := range results {
		r := &results[c]
		r.seen = make([]uint16, pushes)
		r.lat = make([]time.Duration, 0, pushes)
		r.ver = make([]uint16, 0, pushes)
	}
	var wg sync.WaitGroup
	if !netHTTP {
		// The raw clients: one goroutine per epoll set, as many sets as
		// the clients have cores.
		if err := runRawClients(&wg, addr, runtime.GOMAXPROCS(0), sse, v0, pushes, sentAt, &stop, results); err != nil {
			t.Fatal(err)
		}
	}
	for c := 0; netHTTP && c < clients; c++ {
		wg.Add(1)
		go func(r *pullResult) {
			defer wg.Done()
			since := v0
			if sse {
				streamClient(hc, base, since, pushes, sentAt, &stop, r)
				return
			}
			for !stop.Load() {
				res, err := hc.Get(base + "/pull/?key=bench&timeout=5&since=" + since)
				if err != nil {
					r.errors++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				now := time.Now().UnixNano()
				if err != nil || res.StatusCode != 200 {
					r.errors++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				r.polls++
				// The clients share the CPU with the server: scan the
				// flat list for its keys instead of decoding it.
				if !json.Valid(body) {
					r.errors++
					continue
				}
				r.scan(body, pushes, now, sentAt)
				since = res.Header.Get("X-Canopy-Version")
			}
		}(&results[c])
	}
	// Wait until every client is parked in a long poll.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if n := gauge(t, hc, base, "canopy_pull_clients"); n >= float64(clients) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	waiting := gauge(t, hc, base, "canopy_pull_clients")
	fmt.Printf("%d clients waiting; pushing %d updates at 10/s\n", int(waiting), pushes)
	cpu0 := procSeconds(child.Process.Pid)
	run0, wait0 := schedStat(child.Process.Pid)
	self0 := procSeconds(os.Getpid())
	busy0 := machineBusySeconds()
	if prof := os.Getenv("PULL_CLIENT_PROFILE"); prof != "" {
		// A CPU profile of the clients and the pusher while they push.
		f, err := os.Create(prof)
		if err != nil {
			t.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	// Pushes go out on the ticker whatever their round trip, so the run
	// lasts 60 s even on a loaded machine.
	var pushErrors atomic.Int64
	var postNanos atomic.Int64
	var pwg sync.WaitGroup
	for i := 0; i < pushes; i++ {
		<-tick.C
		pwg.Add(1)
		go func(i int) {
			defer pwg.Done()
			t0 := time.Now()
			sentAt[i].Store(t0.UnixNano())
			res, err := hc.Post(base+"/push", "application/json", strings.NewReader(fmt.Sprintf(`{"bench": {"s%d": %d}}`, i, i)))
			pushRTT[i].Store(int64(time.Since(t0)))
			postNanos.Add(int64(time.Since(t0)))
			if err != nil {
				pushErrors.Add(1)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				pushErrors.Add(1)
			}
		}(i)
	}
	pwg.Wait()
	tick.Stop()
	elapsed := time.Since(start)
	cpu := (procSeconds(child.Process.Pid) - cpu0) / elapsed.Seconds() * 100
	run1, wait1 := schedStat(child.Process.Pid)
	selfCPU := (procSeconds(os.Getpid()) - self0) / elapsed.Seconds() * 100
	otherCPU := (machineBusySeconds()-busy0)/elapsed.Seconds()*100 - cpu - selfCPU
	load, _ := os.ReadFile("/proc/loadavg")
	// Give the last updates time to arrive (at most 20 s), then let the
	// clients go.
	for wait := time.Now().Add(20 * time.Second); time.Now().Before(wait); time.Sleep(100 * time.Millisecond) {
		// Pushes run concurrently and may land out of order: wait for
		// all of them, not just the last one sent.
		got := 0
		for c := range results {
			for _, n := range results[c].seen {
				if n > 0 {
					got++
				}
			}
		}
		if got >= clients*pushes {
			break
		}
	}
	// CPU from the first push to the last delivery, for the cost of one.
	srvSec := procSeconds(child.Process.Pid) - cpu0
	cliSec := procSeconds(os.Getpid()) - self0
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	var all []time.Duration
	missed, dup, errs, polls := 0, 0, 0, 0
	for _, r := range results {
		all = append(all, r.lat...)
		errs += r.errors
		polls += r.polls
		for _, n := range r.seen {
			switch {
			case n == 0:
				missed++
			case n > 1:
				dup += int(n) - 1
			}
		}
	}
	if os.Getenv("PULL_DEBUG") != "" {
		// The versions with the slowest deliveries: is the tail a few bad
		// versions or every version's last clients?
		per := make([][]time.Duration, pushes)
		for _, r := range results {
			for j, i := range r.ver {
				per[i] = append(per[i], r.lat[j])
			}
		}
		type vs struct {
			i             int
			p50, p99, max time.Duration
		}
		var vv []vs
		for i, l := range per {
			slices.Sort(l)
			if len(l) > 0 {
				vv = append(vv, vs{i, l[len(l)/2], l[len(l)*99/100], l[len(l)-1]})
			}
		}
		slices.SortFunc(vv, func(a, b vs) int { return int(a.p99 - b.p99) })
		for _, v := range vv[max(0, len(vv)-15):] {
			fmt.Printf("version s%d: p50 %v p99 %v max %v push %v\n", v.i, v.p50.Round(time.Millisecond), v.p99.Round(time.Millisecond), v.max.Round(time.Millisecond), time.Duration(pushRTT[v.i].Load()).Round(time.Millisecond))
		}
		fmt.Printf("median version p99 %v\n", vv[len(vv)/2].p99)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	client := "long-poll clients on raw HTTP/1.1 keep-alive connections"
	switch {
	case sse && netHTTP:
		client = "event-stream clients on net/http"
	case sse:
		client = "event-stream clients on raw HTTP/1.1 connections"
	case netHTTP:
		client = "long-poll clients on net/http"
	}
	fmt.Printf("load: %d %s in the test process (GOMAXPROCS %d); server in a child process\n", clients, client, runtime.GOMAXPROCS(0))
	fmt.Printf("clients %d, updates %d, deliveries %d (want %d), missed %d, duplicates %d, client errors %d, push errors %d, responses %d\n",
		clients, pushes, len(all), clients*pushes, missed, dup, errs, pushErrors.Load(), polls)
	fmt.Printf("delivery latency: p50 %v  p90 %v  p99 %v  max %v\n", pct(0.50), pct(0.90), pct(0.99), all[len(all)-1])
	// The split of the work: what the server spends per delivery against
	// what the clients (and the pusher) spend, and against the floor, one
	// write and one read of an answer's size on loopback TCP measured on
	// this machine in this run.
	floor := loopbackFloor(t, 1000, 200, 10)
	rawFloor, err := rawLoopbackFloor(1000, 200, 10)
	if err != nil {
		t.Fatalf("cannot measure the raw loopback floor: %v", err)
	}
	perD := func(sec float64, n int) float64 { return sec / float64(max(1, n)) * 1e6 }
	srvPer, cliPer := perD(srvSec, polls), perD(cliSec, polls)
	fmt.Printf("CPU per delivery: server %.1f µs, clients %.1f µs; per response or event (%d): server %.1f µs, clients %.1f µs; loopback floor %.1f µs per write+read on Go's net, %.1f µs on raw syscalls (server per response = %.2f× the Go floor)\n",
		perD(srvSec, len(all)), perD(cliSec, len(all)), polls, srvPer, cliPer, floor, rawFloor, srvPer/floor)
	// What the same work would take on this machine with nothing else
	// running: one version sent to every client, spread over every core
	// (the p99 on an idle machine, had the versions not queued), and the
	// share of the cores 10 versions/s need, the kernel's alone and all in.
	cores := float64(runtime.NumCPU())
	fmt.Printf("idle-machine estimate: one version to %d clients takes %.0f ms of %d cores (kernel floor alone %.0f ms); 10 versions/s need %.0f%% of the cores (kernel floor alone %.0f%%)\n",
		clients, float64(clients)*(srvPer+cliPer)/cores/1e3, runtime.NumCPU(), float64(clients)*rawFloor/cores/1e3,
		float64(clients)*10*(srvPer+cliPer)/cores/1e4, float64(clients)*10*rawFloor/cores/1e4)
	fmt.Printf("server CPU %.0f%% of one core over %v; clients+pusher CPU %.0f%%; mean push round trip %v\n",
		cpu, elapsed.Round(time.Second), selfCPU, (time.Duration(postNanos.Load()) / time.Duration(pushes)).Round(time.Microsecond))
	fmt.Printf("other processes CPU %.0f%% (of %d cores); load average at the end %s\n", max(0, otherCPU), runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	if run1 > run0 {
		// How long the server's threads sat runnable without a CPU, per
		// unit of running: the machine's load, not the server's work.
		fmt.Printf("server threads waited %.2f s for a CPU per s of running (from /proc schedstat)\n", (wait1-wait0)/(run1-run0))
	}
	verdict := "MET"
	if pct(0.99) >= 100*time.Millisecond {
		verdict = "NOT MET"
	}
	fmt.Printf("target p99 < 100ms: %s\n", verdict)
	if missed > 0 || dup > 0 {
		t.Errorf("%d (client, version) pairs missed and %d seen twice", missed, dup)
	}
	sum.p50, sum.p99, sum.server, sum.client = pct(0.50), pct(0.99), srvPer, cliPer
	sum.rawFloor, sum.idleMs = rawFloor, float64(clients)*(srvPer+cliPer)/cores/1e3
	return sum
}

// TestBenchPullServer is the server side of TestBenchPull.
func TestBenchPullServer(t *testing.T) {
	addr := os.Getenv("CANOPY_PULL_SERVER")
	if addr == "" {
		t.Skip("run by TestBenchPull")
	}
	if prof := os.Getenv("PULL_PROFILE"); prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			t.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		go func() {
			time.Sleep(time.Duration(envInt("PULL_PROFILE_SECONDS", 20)) * time.Second)
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	s := New(Options{Tree: tree.New(), Limits: config.Limits{MaxLongPolls: 100_000}})
	hs := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 10 * time.Second}
	t.Fatal(hs.ListenAndServe())
}

// streamClient is one Server-Sent Events client: it reads events until
// stop, recording when each pushed node arrives.
func streamClient(hc *http.Client, base, since string, pushes int, sentAt []atomic.Int64, stop *atomic.Bool, r *pullResult) {
	for !stop.Load() {
		req, _ := http.NewRequest("GET", base+"/pull/bench?since="+since+"&timeout=5", nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := hc.Do(req)
		if err != nil {
			r.errors++
			time.Sleep(10 * time.Millisecond)
			continue
		}
		br := bufio.NewReader(res.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				since = strings.TrimSpace(id)
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			now := time.Now().UnixNano()
			r.polls++
			for rest := data; ; {
				j := strings.Index(rest, `"bench,s`)
				if j < 0 {
					break
				}
				rest = rest[j+len(`"bench,s`):]
				k := 0
				for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
					k++
				}
				i, err := strconv.Atoi(rest[:k])
				if err != nil || i < 0 || i >= pushes {
					continue
				}
				r.record(i, now, sentAt)
			}
		}
		res.Body.Close()
	}
}

func bytesIndex(b []byte, s string) int { return strings.Index(string(b), s) }

func gauge(t *testing.T, hc *http.Client, base, name string) float64 {
	res, err := hc.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// schedStat sums the run and run-queue wait times (seconds) of pid's threads.
func schedStat(pid int) (run, wait float64) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fs := strings.Fields(string(b))
		if len(fs) < 2 {
			continue
		}
		r, _ := strconv.ParseFloat(fs[0], 64)
		w, _ := strconv.ParseFloat(fs[1], 64)
		run += r / 1e9
		wait += w / 1e9
	}
	return run, wait
}

// machineBusySeconds is the CPU time all processes used (/proc/stat: user,
// nice, system, irq, softirq), so the report can say what else ran.
func machineBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fs := strings.Fields(line)
	var busy float64
	for i, f := range fs[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i < 3 || i == 5 || i == 6 {
			busy += v
		}
	}
	return busy / 100
}

func procSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(fs[11], 64)
	k, _ := strconv.ParseFloat(fs[12], 64)
	return (u + k) / 100
}

// loopbackFloor is the CPU (µs, the whole process: both ends) of writing
// size bytes to one loopback TCP connection and reading them at the other
// end, over n connections for rounds rounds: one writer loop, one reader
// goroutine per connection. It is what any server and client pair pays
// per delivery on this machine, the anchor of the figures above.
func loopbackFloor(t *testing.T, n, size, rounds int) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := make([]net.Conn, 0, n)
	var read sync.WaitGroup
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		defer s.Close()
		srv = append(srv, s)
		go func() {
			b := make([]byte, 4096)
			got := 0
			for {
				k, err := c.Read(b)
				if err != nil {
					return
				}
				for got += k; got >= size; got -= size {
					read.Done()
				}
			}
		}()
	}
	msg := make([]byte, size)
	time.Sleep(100 * time.Millisecond)
	c0 := cpuSeconds()
	for r := 0; r < rounds; r++ {
		read.Add(n)
		for _, s := range srv {
			if _, err := s.Write(msg); err != nil {
				t.Fatal(err)
			}
		}
		read.Wait()
	}
	return (cpuSeconds() - c0) / float64(n*rounds) * 1e6
}

// cpuSeconds is this process's CPU time to the microsecond (getrusage),
// for the floors: /proc's clock ticks are 10 ms.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// event records one Server-Sent Event's changes and takes its id as since;
// false if its data is not JSON.
func (r *pullResult) event(ev []byte, pushes int, now int64, sentAt []atomic.Int64, since *[]byte) bool {
	for len(ev) > 0 {
		var line []byte
		line, ev, _ = bytes.Cut(ev, []byte("\n"))
		if id, ok := bytes.CutPrefix(line, []byte("id: ")); ok {
			*since = append((*since)[:0], id...)
		} else if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			if !json.Valid(data) {
				return false
			}
			r.polls++
			r.scan(data, pushes, now, sentAt)
		}
	}
	return true
}
