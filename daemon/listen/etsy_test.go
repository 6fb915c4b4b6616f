package listen

import (
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// etsyTimerFields are the fields etsy/statsd's process_metrics.js flushes
// for a timer with percentThreshold [90] (graphite backend:
// stats.timers.NAME.FIELD); canopy adds its cumulative buckets, le.
var etsyTimerFields = []string{"count", "count_90", "count_ps", "lower", "mean", "mean_90", "median",
	"std", "sum", "sum_90", "sum_squares", "sum_squares_90", "upper", "upper_90"}

// TestStatsDLikeEtsy feeds a listener with the real python statsd client
// (Debian's python3-statsd) and exact etsy wire lines, flush window after
// flush window, and reads what a user reads: the timer's etsy field set
// and values, a window with no samples (count 0, the rest left to go
// stale), gauges with +/- deltas, sets counted per window, and sample
// rates honoured.
func TestStatsDLikeEtsy(t *testing.T) {
	testenv.InstallPackages(t, "python3-statsd")
	tr := tree.New()
	l := start(t, tr, config.Listener{Proto: "udp", Format: "statsd", Percentiles: []float64{90}}, func(o *Options) { o.SetWindow = time.Hour })
	port := l.Addr().String()[strings.LastIndexByte(l.Addr().String(), ':')+1:]
	script := fmt.Sprintf(`
import statsd
c = statsd.StatsClient('127.0.0.1', %s)
for v in range(1, 101):
    c.timing('req', v)
c.gauge('queue', 10)
c.gauge('queue', 5, delta=True)
c.gauge('queue', -3, delta=True)
c.set('users', 'alice')
c.set('users', 'bob')
c.set('users', 'alice')
c.incr('hits', 3)
`, port)
	if out, err := exec.Command("/usr/bin/python3", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("python statsd client: %v\n%s", err, out)
	}
	// Sample rates, as etsy reads them: a counter sent at @0.1 counts 10,
	// a timer sample at @0.5 counts twice.
	sendUDP(t, l.Addr(), "hits:1|c|@0.1\nslow:200|ms|@0.5")
	waitFor(t, tr, "statsd,timers,req,le,+Inf", 100)
	waitFor(t, tr, "statsd,timers,slow,le,+Inf", 2)
	waitFor(t, tr, "statsd,counters,hits", 13)
	waitFor(t, tr, "statsd,gauges,queue", 12)
	waitFor(t, tr, "statsd,sets,users", 2)

	l.sh.flushTimers(10 * time.Second) // the end of the first window
	got := values(t, tr, "statsd,timers,req,*")
	var fields []string
	for k := range got {
		if f := strings.TrimPrefix(k, "statsd,timers,req,"); !strings.Contains(f, ",") {
			fields = append(fields, f)
		}
	}
	fields = append(fields, "le")
	slices.Sort(fields)
	if want := append(slices.Clone(etsyTimerFields), "le"); !slices.Equal(fields, slices.Sorted(slices.Values(want))) {
		t.Errorf("timer fields %v, want etsy's %v plus le", fields, want)
	}
	// 1..100 ms: etsy's numbers.
	for f, want := range map[string]float64{
		"count": 100, "count_ps": 10, "sum": 5050, "sum_squares": 338350, "mean": 50.5, "lower": 1, "upper": 100,
		"median": 50.5, "std": math.Sqrt((100*100 - 1) / 12.0),
		"count_90": 90, "upper_90": 90, "sum_90": 4095, "mean_90": 45.5, "sum_squares_90": 247065,
	} {
		if v := got["statsd,timers,req,"+f]; math.Abs(v-want) > 1e-9*math.Max(1, want) {
			t.Errorf("req.%s = %v, want %v", f, v, want)
		}
	}
	if v := values(t, tr, "statsd,timers,slow,count")["statsd,timers,slow,count"]; v != 2 {
		t.Errorf("slow.count at @0.5 = %v, want 2", v)
	}

	// A window without samples: count and count_ps 0, the other fields
	// not rewritten (they go stale in the trend store).
	l.sh.resetSets()
	l.sh.flushTimers(10 * time.Second)
	waitFor(t, tr, "statsd,timers,req,count", 0)
	waitFor(t, tr, "statsd,timers,req,count_ps", 0)
	// The next window has its own numbers.
	sendUDP(t, l.Addr(), "req:7|ms\nreq:9|ms\nusers:carol|s")
	waitFor(t, tr, "statsd,timers,req,le,+Inf", 102)
	l.sh.flushTimers(10 * time.Second)
	waitFor(t, tr, "statsd,timers,req,mean", 8)
	waitFor(t, tr, "statsd,timers,req,count", 2)
	waitFor(t, tr, "statsd,timers,req,upper_90", 9) // round(0.9*2) = 2 samples
	waitFor(t, tr, "statsd,sets,users", 1)          // a new window
}
