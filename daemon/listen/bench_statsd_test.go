//go:build bench

package listen

// The StatsD ingest benchmark (go tool -modfile=tools/go.mod task bench:statsd): canopyd and
// collectd's statsd plugin on loopback, fed by the same sender (1,000
// counter names, 40 lines a datagram) at rising rates. For each rate and
// daemon: lines sent, kernel receive-buffer drops (/proc/net/udp), lines
// that arrived (canopy: the tree's counter total), loss and the daemon's
// CPU. Bounded: a few seconds a step, at most ~2 minutes.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/daemon/tree"
)

const (
	benchNames     = 1000
	linesPerPacket = 40
	stepDuration   = 3 * time.Second
	lossTarget     = 0.001
	clockTicksPerS = 100 // USER_HZ on Linux
)

var benchRates = []int{100_000, 200_000, 400_000, 600_000, 800_000, 1_000_000, 1_250_000, 1_500_000, 2_000_000}

type daemonProc struct {
	name string
	cmd  *exec.Cmd
	port int
	// total returns the lines the daemon has counted (-1: unknown).
	total func() float64
}

func TestBenchStatsD(t *testing.T) {
	dir := t.TempDir()
	collectd := testenv.NeedCommand(t, "collectd", "collectd-core")

	// canopy's listener and tree in a child process (this test binary
	// re-run), so its CPU is measured apart from the sender's.
	httpAddr := testenv.FreePort(t)
	cPort := freeUDPPort(t)
	canopy := exec.Command(os.Args[0], "-test.run", "^TestBenchChild$")
	canopy.Env = append(os.Environ(), fmt.Sprintf("CANOPY_BENCH_CHILD=127.0.0.1:%d,%s", cPort, httpAddr))
	canopy.Stdout, canopy.Stderr = os.Stderr, os.Stderr
	if err := canopy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { canopy.Process.Kill(); canopy.Wait() }()
	if u := "http://" + httpAddr + "/get/statsd,counters,bench"; !testenv.Answers(u, 30*time.Second) {
		t.Fatalf("%s did not answer", u)
	}

	// collectd with only the statsd plugin, on loopback.
	kPort := freeUDPPort(t)
	kconf := filepath.Join(dir, "collectd.conf")
	os.WriteFile(kconf, []byte(fmt.Sprintf(`Interval 10
BaseDir %q
PIDFile %q
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin statsd
<Plugin statsd>
  Host "127.0.0.1"
  Port "%d"
</Plugin>
`, dir, filepath.Join(dir, "collectd.pid"), kPort)), 0o644)
	kd := exec.Command(collectd, "-f", "-C", kconf)
	klog, err := os.Create(filepath.Join(dir, "collectd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer klog.Close()
	kd.Stdout, kd.Stderr = klog, klog
	if err := kd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { kd.Process.Kill(); kd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, ok := udpSocket(kPort); ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, ok := udpSocket(kPort); !ok {
		t.Fatalf("collectd did not open udp port %d", kPort)
	}

	daemons := []*daemonProc{
		{name: "collectd", cmd: kd, port: kPort, total: func() float64 { return -1 }},
		{name: "canopy", cmd: canopy, port: cPort, total: func() float64 { return canopyTotal(t, httpAddr) }},
	}
	packets := benchPackets()
	best := map[string]int{}
	bestCPU := map[string]float64{}
	lossy := map[string]int{}
	fmt.Printf("%-9s %12s %12s %10s %10s %9s %7s\n", "daemon", "target/s", "sent/s", "dropped", "missing", "loss%", "cpu%")
	for _, rate := range benchRates {
		for _, d := range daemons {
			if lossy[d.name] >= 3 {
				continue
			}
			before := d.total()
			_, drops0, _ := udpSocket(d.port)
			cpu0 := procCPU(d.cmd.Process.Pid)
			start := time.Now()
			sent := send(t, d.port, packets, rate, stepDuration)
			elapsed := time.Since(start)
			// Let the daemon drain its socket before counting.
			for i := 0; i < 200; i++ {
				if q, _, _ := udpSocket(d.port); q == 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
			cpu := (procCPU(d.cmd.Process.Pid) - cpu0) / elapsed.Seconds() * 100
			_, drops1, _ := udpSocket(d.port)
			dropped := (drops1 - drops0) * linesPerPacket
			missing := dropped
			if after := d.total(); after >= 0 {
				missing = sent - int(after-before)
			}
			loss := float64(max(missing, dropped)) / float64(sent)
			achieved := float64(sent) / elapsed.Seconds()
			fmt.Printf("%-9s %12d %12.0f %10d %10d %9.3f %7.1f\n", d.name, rate, achieved, dropped, missing, loss*100, cpu)
			if loss < lossTarget {
				if int(achieved) > best[d.name] {
					best[d.name], bestCPU[d.name] = int(achieved), cpu
				}
				lossy[d.name] = 0
			} else {
				lossy[d.name]++
			}
		}
	}
	fmt.Printf("\nhighest rate with < 0.1%% loss (lines/s, CPU %% of one core):\n")
	for _, d := range daemons {
		fmt.Printf("  %-9s %10d  %5.1f%%\n", d.name, best[d.name], bestCPU[d.name])
	}
	verdict := "MET"
	if best["canopy"] < best["collectd"] {
		verdict = "NOT MET"
	}
	fmt.Printf("target canopy >= collectd: %s (ratio %.2f)\n", verdict, float64(best["canopy"])/float64(max(best["collectd"], 1)))
}

// benchPackets are 25 datagrams of 40 lines covering the 1,000 names once.
func benchPackets() [][]byte {
	var out [][]byte
	for i := 0; i < benchNames; i += linesPerPacket {
		var b strings.Builder
		for j := i; j < i+linesPerPacket; j++ {
			fmt.Fprintf(&b, "bench.c%03d:1|c\n", j%benchNames)
		}
		out = append(out, []byte(strings.TrimSuffix(b.String(), "\n")))
	}
	return out
}

// send paces datagrams at rate lines/s for d with sendmmsg and returns the
// lines sent.
func send(t *testing.T, port int, packets [][]byte, rate int, d time.Duration) int {
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetWriteBuffer(8 << 20)
	pc := ipv4.NewPacketConn(c)
	ms := make([]ipv4.Message, 64)
	perSec := float64(rate) / linesPerPacket
	start := time.Now()
	sent, k, skipped := 0, 0, 0
	for {
		el := time.Since(start)
		if el >= d {
			break
		}
		due := int(el.Seconds()*perSec) - sent - skipped
		// A sender that was descheduled does not make up for it in one
		// burst (that would measure the burst, not the rate): at most 2 ms
		// of debt is kept.
		if maxDebt := int(perSec/500) + 1; due > maxDebt+len(ms) {
			skipped += due - maxDebt
			due = maxDebt
		}
		if due <= 0 {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		n := min(due, len(ms))
		for i := 0; i < n; i++ {
			ms[i].Buffers = [][]byte{packets[k%len(packets)]}
			k++
		}
		w, err := pc.WriteBatch(ms[:n], 0)
		if err != nil {
			// ECONNREFUSED from an earlier datagram: keep going.
			w = max(w, 0)
		}
		k -= n - w
		sent += w
	}
	return sent * linesPerPacket
}

// udpSocket finds the loopback UDP socket bound to port in /proc/net/udp:
// its receive queue (bytes) and its drop counter.
func udpSocket(port int) (rxQueue, drops int, ok bool) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 13 || fs[1] != want {
			continue
		}
		q := strings.Split(fs[4], ":")
		rx, _ := strconv.ParseInt(q[1], 16, 64)
		dr, _ := strconv.Atoi(fs[len(fs)-1])
		return int(rx), dr, true
	}
	return 0, 0, false
}

// procCPU returns the user+system CPU seconds of pid.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(fs[11], 64)
	k, _ := strconv.ParseFloat(fs[12], 64)
	return (u + k) / clockTicksPerS
}

func canopyTotal(t *testing.T, addr string) float64 {
	res, err := http.Get("http://" + addr + "/get/statsd,counters,bench")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list []map[string]float64
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, e := range list {
		for _, v := range e {
			sum += v
		}
	}
	return sum
}

// TestBenchChild is the canopy side of the benchmark: a UDP statsd
// listener as canopyd configures it, and the tree served over HTTP.
func TestBenchChild(t *testing.T) {
	env := os.Getenv("CANOPY_BENCH_CHILD")
	if env == "" {
		t.Skip("run by TestBenchStatsD")
	}
	udp, httpAddr, _ := strings.Cut(env, ",")
	tr := tree.New()
	srv := api.New(api.Options{Tree: tr})
	l, err := Start(Options{Tree: tr, Config: config.Listener{Proto: "udp", Listen: udp, Format: "statsd"}, Auth: srv.Auth(),
		Limits: srv.Limits(), LinesIn: srv.Metrics().LinesIn, BadLines: srv.Metrics().BadLines})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fmt.Fprintf(os.Stderr, "canopy statsd listener on %s, SO_RCVBUF %d\n", udp, l.RecvBuffer)
	t.Fatal(http.ListenAndServe(httpAddr, srv))
}

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
