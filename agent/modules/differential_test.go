package modules

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/collectorabi"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// The agent's built-in modules are C (pipes-src/mod-builtin-c: a Go guest
// costs ~12 MB of machine code); the Go modules (pipes-src/mod-builtin)
// stay the SDK's example and the reference. These tests run both side by
// side and want the same metrics: names, units, types, slopes, groups,
// formats and descriptions equal, the same kinds of value, numbers equal
// where both read the same input and within a tolerance where the input
// moves between the two reads (this machine's /proc, HTTP timings).

// goBuiltinDir builds the Go modules into a fresh folder.
func goBuiltinDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a WASM module")
	}
	dir := t.TempDir()
	if err := pipetest.BuildWASM("../../pipes-src/mod-builtin", filepath.Join(dir, "builtin.wasm")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pair is the same config loaded from the Go and the C module file.
type pair struct {
	goMods, cMods []*Module
}

func loadPair(t *testing.T, src string) *pair {
	t.Helper()
	eng, err := host.NewEngine(filepath.Join(os.TempDir(), "canopy-agent-test-cache"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	ctx := context.Background()
	p := &pair{
		goMods: New(Options{Dir: goBuiltinDir(t), Engine: eng, Logf: t.Logf}).Load(ctx, conf(t, src)),
		cMods:  New(Options{Dir: builtinDir, Engine: eng, Logf: t.Logf}).Load(ctx, conf(t, src)),
	}
	t.Cleanup(func() { Close(ctx, p.goMods); Close(ctx, p.cMods) })
	for i, g := range p.goMods {
		c := p.cMods[i]
		if (g.Err == nil) != (c.Err == nil) {
			t.Fatalf("%s: Go error %v, C error %v", g.Name(), g.Err, c.Err)
		}
		if g.Err != nil {
			continue
		}
		gd, cd := byName(g.Metrics), byName(c.Metrics)
		for n, d := range gd {
			if cd[n] != d {
				t.Errorf("%s/%s: Go declares %+v, C %+v", g.Name(), n, d, cd[n])
			}
		}
		for n := range cd {
			if _, ok := gd[n]; !ok {
				t.Errorf("%s/%s: declared by C only", g.Name(), n)
			}
		}
	}
	return p
}

func byName(ds []collectorabi.Descriptor) map[string]collectorabi.Descriptor {
	out := map[string]collectorabi.Descriptor{}
	for _, d := range ds {
		out[d.Name] = d
	}
	return out
}

// tolerance says how far the Go and C value of a metric may be apart.
type tolerance func(module string, d collectorabi.Descriptor, a, b float64) bool

func exact(_ string, _ collectorabi.Descriptor, a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a))
}

// round asks every module of both for all its values, Go first, and
// compares them (ok nil: only takes the readings).
func (p *pair) round(t *testing.T, ok tolerance) {
	t.Helper()
	ctx := context.Background()
	for i, g := range p.goMods {
		c := p.cMods[i]
		if g.Err != nil {
			continue
		}
		gv, gerr := g.Values(ctx, all(g))
		cv, cerr := c.Values(ctx, all(c))
		if gerr != nil || cerr != nil {
			t.Fatalf("%s: Go %v, C %v", g.Name(), gerr, cerr)
		}
		if ok == nil {
			continue
		}
		cByName := map[string]collectorabi.MetricValue{}
		for j, x := range cv.Values {
			cByName[c.Metrics[j].Name] = x
		}
		for j, a := range gv.Values {
			d := g.Metrics[j]
			b := cByName[d.Name]
			switch {
			case a.Kind != b.Kind:
				t.Errorf("%s/%s: Go %+v, C %+v", g.Name(), d.Name, a, b)
			case a.Kind == collectorabi.ValueNumber && !ok(g.Name(), d, a.Number, b.Number):
				t.Errorf("%s/%s: Go %v, C %v", g.Name(), d.Name, a.Number, b.Number)
			}
		}
		if strings.Join(gv.Forward, "\n") != strings.Join(cv.Forward, "\n") {
			t.Errorf("%s: Go forwards %q, C %q", g.Name(), gv.Forward, cv.Forward)
		}
	}
}

// TestBuiltinCMatchesGoOnThisMachine runs every built-in module on this
// machine's /proc, a stub_status page, URL checks and a growing log.
func TestBuiltinCMatchesGoOnThisMachine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nginx_status":
			fmt.Fprint(w, "Active connections: 2 \nserver accepts handled requests\n 16 16 31 \nReading: 0 Writing: 1 Waiting: 1 \n")
		case "/u/gone":
			http.NotFound(w, r)
		default:
			fmt.Fprint(w, "hello")
		}
	}))
	defer srv.Close()
	log := filepath.Join(t.TempDir(), "access.log")
	os.WriteFile(log, []byte("old\n"), 0o644)
	p := loadPair(t, `modules {
  module { name = "cpu" path = "builtin.wasm" grant { read = "/proc" } }
  module { name = "mem" path = "builtin.wasm" grant { read = "/proc" } }
  module { name = "load" path = "builtin.wasm" grant { read = "/proc" } }
  module { name = "net" path = "builtin.wasm" grant { read = "/proc" } }
  module { name = "disk" path = "builtin.wasm" grant { read = "/proc" statfs = "/" } }
  module { name = "nginx" path = "builtin.wasm" param url { value = "`+srv.URL+`/nginx_status" } grant { http_get = "`+srv.URL+`/nginx_status" } }
  module { name = "url" path = "builtin.wasm" param home { value = "`+srv.URL+`/u/home" } param gone { value = "`+srv.URL+`/u/gone" }
           param denied { value = "`+srv.URL+`/other" } param timeout_ms { value = "3000" } grant { http_get = "`+srv.URL+`/u/*" } }
  module { name = "accesslog" path = "builtin.wasm" param path { value = "`+log+`" } grant { tail = "`+log+`" } }
}`)
	for _, m := range p.cMods {
		if m.Err != nil {
			t.Fatalf("%s: %v", m.Name(), m.Err)
		}
	}
	moving := func(mod string, d collectorabi.Descriptor, a, b float64) bool {
		diff := math.Abs(a - b)
		rel := diff / math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
		switch {
		case mod == "cpu":
			// Two readings of one second each, a few ms apart.
			return diff <= 10
		case mod == "net" || strings.HasPrefix(d.Name, "io/"):
			// Rates of whatever else runs here, over slightly different
			// intervals: bursts make any bound flaky, so only the sign;
			// TestBuiltinCMatchesGoOnFixedInput checks the arithmetic.
			return a >= 0 && b >= 0
		case d.Units == "%":
			return diff <= 2
		case mod == "mem" || strings.HasPrefix(d.Name, "space/"):
			return rel <= 0.05
		case mod == "load" && d.Name == "proc_run":
			return diff <= 16
		case mod == "load" && d.Name == "proc_total":
			return rel <= 0.1
		case mod == "load":
			return diff <= 0.5 // the kernel updates the averages every 5 s
		case mod == "url" && d.Units == "ms":
			return a >= 0 && b >= 0 && diff <= 500
		}
		return exact(mod, d, a, b)
	}
	p.round(t, nil) // as in TestBuiltinCMatchesGoOnFixedInput
	for r := 0; r < 3; r++ {
		time.Sleep(time.Second)
		f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintf(f, "line %d\r\n\nnext %d\npartial", r, r)
		f.WriteString("\n")
		f.Close()
		p.round(t, moving)
	}
}

// A /proc at one reading: counters grow by step per reading (some go
// backwards at step 2, as after a reset), so every module's arithmetic
// sees fixed input.
func writeProc(t *testing.T, root string, step int) {
	t.Helper()
	s := uint64(step)
	files := map[string]string{
		"stat": fmt.Sprintf("cpu  %d %d %d %d %d 0 %d 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\ncpu1 1 2 3 4 5 6 7 8 0 0\ncpu2 1 2 3 4 5 6 7 8 0 0\nintr 1 2 3\nctxt 99\n",
			1000+30*s, 10+s, 400+12*s, 9000+[]uint64{0, 50, 20}[step], 20+5*s, 3+2*s),
		"meminfo": fmt.Sprintf("MemTotal:        8000000 kB\nMemFree:         %d kB\n%sBuffers:           20000 kB\nCached:           %d kB\nShmem:  1000 kB\nSwapCached:      0 kB\nSwapTotal:       2000000 kB\nSwapFree:        1999000 kB\nHugePages_Total:       0\n",
			1000000+1000*s, map[bool]string{true: fmt.Sprintf("MemAvailable:    %d kB\n", 5000000-7000*s), false: ""}[step < 2], 3000000+500*s),
		"loadavg": fmt.Sprintf("0.%d0 0.18 0.12 %d/%d 11206\n", 2+step, 1+step, 80+step),
		"net/dev": "Inter-|   Receive                                                |  Transmit\n" +
			" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
			fmt.Sprintf("    lo: %d %d 0 0 0 0 0 0 %d %d 0 0 0 0 0 0\n", 100000+5000*s, 1000+40*s, 100000+5000*s, 1000+40*s) +
			fmt.Sprintf("  eth0: %d %d %d 2 0 0 0 0 %d 3000 0 %d 0 0 0 0\n", 5000000+80000*s, 4000+70*s, 1+s, []uint64{2000000, 2100000, 10}[step], s) +
			"  eth1: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n",
		"diskstats": fmt.Sprintf("   7       0 loop0 10 0 20 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"+
			"   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0\n"+
			"   8       0 sda %d 10 %d 500 %d 20 %d 900 0 %d 1400 0 0 0 0 0 0\n"+
			"   8       1 sda1 900 10 70000 450 1900 20 150000 850 0 1400 1300 0 0 0 0 0 0\n"+
			" 259       0 nvme0n1 %d 0 4000 100 50 0 %d 20 0 %d 120\n"+
			" 259       1 nvme0n1p1 400 0 3000 90 40 0 700 10 0 200 100 0 0 0 0 0 0\n"+
			" 179       0 mmcblk0 5 0 40 1 0 0 0 0 0 1 1 0 0 0 0\n"+
			" 179       1 mmcblk0p1 5 0 40 1 0 0 0 0 0 1 1 0 0 0 0\n"+
			" 253       0 dm-0 7 0 56 1 9 0 72 1 0 2 2 0 0 0 0\n",
			1000+25*s, 80000+4000*s, 2000+9*s, 160000+800*s, 1500+300*s, 500+s, []uint64{800, 900, 100}[step], 300+250*s),
	}
	for name, body := range files {
		p := filepath.Join(root, "proc", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixedInput compares the values of a /proc the test wrote.
func fixedInput(mod string, d collectorabi.Descriptor, a, b float64) bool {
	switch {
	case mod == "net" || strings.HasPrefix(d.Name, "io/"):
		// The same counters over intervals that differ by the few ms
		// between the Go and the C call.
		return math.Abs(a-b) <= 0.1*math.Max(math.Abs(a), math.Abs(b))
	case strings.HasPrefix(d.Name, "space/"):
		return math.Abs(a-b) <= 0.05*math.Max(math.Abs(a), math.Abs(b))
	}
	return exact(mod, d, a, b)
}

// TestBuiltinCMatchesGoOnFixedInput runs the /proc modules on readings
// written by the test (params root), with default and explicit params.
func TestBuiltinCMatchesGoOnFixedInput(t *testing.T) {
	for _, c := range []struct{ name, net, disk string }{
		{"defaults", ``, `param mounts { value = "/, /tmp/" }`},
		{"params", `param interfaces { value = "lo, eth0" } param exclude { value = "eth0" }`,
			`param devices { value = "sda, nvme0n1p1 ,bad/name,,missing" } param mounts { value = "/tmp" }`},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			writeProc(t, root, 0)
			grant := `grant { read = "` + root + `" }`
			rootParam := `param root { value = "` + root + `" }`
			p := loadPair(t, `modules {
  module { name = "cpu" path = "builtin.wasm" `+rootParam+` `+grant+` }
  module { name = "mem" path = "builtin.wasm" `+rootParam+` `+grant+` }
  module { name = "load" path = "builtin.wasm" `+rootParam+` `+grant+` }
  module { name = "net" path = "builtin.wasm" `+rootParam+` `+c.net+` `+grant+` }
  module { name = "disk" path = "builtin.wasm" `+rootParam+` `+c.disk+` grant { read = "`+root+`" statfs = "/" statfs = "/tmp/" } }
}`)
			for _, m := range p.cMods {
				if m.Err != nil {
					t.Fatalf("%s: %v", m.Name(), m.Err)
				}
			}
			ok := fixedInput
			// Rates cover the time since the previous reading: after this
			// one, Go's and C's readings are only a call apart (the loads
			// were one compile apart).
			p.round(t, nil)
			for step := 1; step <= 2; step++ {
				time.Sleep(time.Second)
				writeProc(t, root, step)
				p.round(t, ok)
			}
			// Unreadable input: every value missing with the error, in both.
			os.Remove(filepath.Join(root, "proc", "stat"))
			os.WriteFile(filepath.Join(root, "proc", "loadavg"), []byte("0.1 x\n"), 0o644)
			os.WriteFile(filepath.Join(root, "proc", "net", "dev"), []byte("  lo: 1 2\n"), 0o644)
			p.round(t, ok)
		})
	}
}

// The C modules keep their /proc files open between rounds (a pread from
// offset 0 instead of open, read, close); a file replaced under its name,
// removed or put back must still read as what the path names now, as the
// Go modules' os.ReadFile does, and an interface or disk that is gone has
// no rates.
func TestBuiltinCRereadsReplacedFiles(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 0)
	grant := `param root { value = "` + root + `" } grant { read = "` + root + `" }`
	p := loadPair(t, `modules {
  module { name = "cpu" path = "builtin.wasm" `+grant+` }
  module { name = "mem" path = "builtin.wasm" `+grant+` }
  module { name = "load" path = "builtin.wasm" `+grant+` }
  module { name = "net" path = "builtin.wasm" `+grant+` }
  module { name = "disk" path = "builtin.wasm" `+grant+` }
}`)
	for _, m := range p.cMods {
		if m.Err != nil {
			t.Fatalf("%s: %v", m.Name(), m.Err)
		}
	}
	p.round(t, nil)
	proc := func(name string) string { return filepath.Join(root, "proc", name) }
	// Every file replaced by a rename (a new inode under the old name),
	// eth1 and nvme0n1 gone from the new readings.
	time.Sleep(time.Second)
	stage := t.TempDir()
	writeProc(t, stage, 1)
	for _, name := range []string{"stat", "meminfo", "loadavg", "net/dev", "diskstats"} {
		b, err := os.ReadFile(filepath.Join(stage, "proc", name))
		if err != nil {
			t.Fatal(err)
		}
		var keep []string
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if !strings.Contains(l, "eth1:") && !strings.Contains(l, " nvme0n1 ") {
				keep = append(keep, l)
			}
		}
		os.WriteFile(filepath.Join(stage, "proc", name), []byte(strings.Join(keep, "")), 0o644)
		if err := os.Rename(filepath.Join(stage, "proc", name), proc(name)); err != nil {
			t.Fatal(err)
		}
	}
	p.round(t, fixedInput)
	gone := values(t, p.cMods[3])["eth1/rx_bytes"]
	if gone.Kind != collectorabi.ValueMissing {
		t.Errorf("eth1/rx_bytes after eth1 went away: %+v, want missing", gone)
	}
	// Removed: missing values (mem) or the last rates (disk), in both.
	os.Remove(proc("meminfo"))
	os.Remove(proc("diskstats"))
	p.round(t, fixedInput)
	if v := values(t, p.cMods[1])["total"]; v.Kind != collectorabi.ValueMissing {
		t.Errorf("mem total with meminfo removed: %+v, want missing", v)
	}
	// Put back: read again.
	time.Sleep(time.Second)
	writeProc(t, root, 2)
	p.round(t, fixedInput)
	if v := values(t, p.cMods[1])["total"]; v.Kind != collectorabi.ValueNumber {
		t.Errorf("mem total with meminfo back: %+v, want a number", v)
	}
}
