package chaos

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/push"
)

// cardRSSCapMiB is the documented bound (docs/api.md, "Limits") on the
// daemon's resident memory with a tree at the default max_tree_nodes.
const cardRSSCapMiB = 1024

// metricValue reads one sample of the daemon's /metrics: the line that
// starts with series (name and labels) followed by a space.
func metricValue(t testing.TB, base, series string) (float64, bool) {
	t.Helper()
	_, b, _ := do(t, "GET", base+"/metrics", nil)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// cardPush is a push of n distinct keys card,k<first>… under one parent.
func cardPush(first, n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 14)
	b.WriteString(`{"card":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":1`, first+i)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}

// TestCardinality offers a live daemon (default limits) 10M distinct keys
// in pushes of max_push_nodes keys. A client that is refused halves its
// batch, so the tree fills to exactly max_tree_nodes; every push past it
// must be a 413 naming limits.max_tree_nodes that merged nothing, /status
// and /metrics must say the tree is full, the resident memory must stay
// under cardRSSCapMiB and stop growing once full, and existing keys must
// still update. One push over max_push_nodes is refused on its own.
func TestCardinality(t *testing.T) {
	const offered = 10_000_000
	full := push.DefaultMaxPushNodes - 1 // the parent "card" is a member too
	batch := full
	maxNodes := push.DefaultMaxTreeNodes
	d := startDaemon(t, "", nil)
	base := d.URL()

	code, b, _ := do(t, "POST", base+"/push", bytes.NewReader(cardPush(0, full+1)), "Content-Type", "application/json")
	if code != 413 || !strings.Contains(jsonError(b), "limits.max_push_nodes") {
		t.Errorf("push of %d keys: %d %s, want 413 naming limits.max_push_nodes", full+1, code, trunc(string(b), 200))
	}

	// The peak is sampled all along: the trend store's first write of
	// every new series is the costly moment, not the pushes.
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if pid := d.PID(); pid > 0 {
				peak.Store(max(peak.Load(), int64(rssMiB(t, pid))))
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	next, accepted, refused, pushes := 0, 0, 0, 0
	var rssFull, fillSecs float64
	for next < offered {
		n := min(batch, offered-next)
		code, b, _ := do(t, "POST", base+"/push", bytes.NewReader(cardPush(next, n)), "Content-Type", "application/json")
		pushes++
		switch {
		case code == 200:
			accepted += n
		case code == 413 && strings.Contains(jsonError(b), "limits.max_tree_nodes"):
			refused += n
			switch {
			case rssFull > 0: // full: offer the rest in big pushes
			case batch > 1:
				batch /= 2 // fill the last room with smaller pushes
			default:
				// Full. Once the trend store has written every new
				// series, the memory is what the full tree costs; the
				// refused pushes after must not add to it.
				fillSecs = time.Since(start).Seconds()
				waitTrendPoints(t, base, float64(accepted))
				rssFull = rssMiB(t, d.PID())
				batch = full
			}
		default:
			t.Fatalf("push %d (keys %d…): %d %s", pushes, next, code, trunc(string(b), 300))
		}
		next += n
	}
	took := time.Since(start)
	time.Sleep(2 * time.Second) // a trend tick after the last push
	rssEnd := rssMiB(t, d.PID())
	close(stop)
	<-sampled
	t.Logf("%d keys in %d pushes in %v (full after %.0fs): %d accepted, %d refused; RSS full %.0f MiB, end %.0f MiB, peak %d MiB", offered, pushes, took, fillSecs, accepted, refused, rssFull, rssEnd, peak.Load())

	st := status(t, base)
	tr, _ := st["tree"].(map[string]any)
	if tr["full"] != true || st["nodes"] != float64(maxNodes) || !strings.Contains(fmt.Sprint(tr["error"]), "limits.max_tree_nodes") {
		t.Errorf("/status tree = %v, want full at %d nodes with an error naming limits.max_tree_nodes", tr, maxNodes)
	}
	if accepted != maxNodes-1 { // card itself is a node
		t.Errorf("%d keys accepted, want %d (max_tree_nodes less the parent)", accepted, maxNodes-1)
	}
	for _, m := range []struct {
		series string
		want   float64 // at least
	}{
		{"canopy_tree_full", 1},
		{`canopy_refused_total{reason="max_tree_nodes"}`, 1},
		{"canopy_tree_refused_nodes_total", float64(refused)},
	} {
		if v, ok := metricValue(t, base, m.series); !ok || v < m.want {
			t.Errorf("/metrics %s = %v (found %v), want at least %v", m.series, v, ok, m.want)
		}
	}

	// Existing keys still update, a new one is still refused.
	code, b, _ = do(t, "POST", base+"/push", strings.NewReader(`{"card":{"k0":2,"k1":3}}`))
	if code != 200 {
		t.Errorf("push to existing keys of a full tree: %d %s", code, b)
	}
	if v := getNumber(t, base, "card,k1"); v != 4 {
		t.Errorf("card,k1 = %v after +3, want 4", v)
	}
	code, b, _ = do(t, "POST", base+"/push", strings.NewReader(`{"card":{"k0":1,"new":1}}`))
	if code != 413 || getNumber(t, base, "card,k0") != 3 {
		t.Errorf("push with one new key to a full tree: %d %s (card,k0 = %v, want 3: nothing merged)", code, b, getNumber(t, base, "card,k0"))
	}
	if peak.Load() > cardRSSCapMiB {
		t.Errorf("RSS peaked at %d MiB, over the %d MiB cap", peak.Load(), cardRSSCapMiB)
	}
	if rssEnd > rssFull*1.25+64 {
		t.Errorf("RSS grew from %.0f MiB when full to %.0f MiB while every push was refused", rssFull, rssEnd)
	}
	report(t, "%dM distinct keys offered in %d pushes (%.0fs): %d merged to max_tree_nodes %d, %d refused 413 naming the limit; /status+/metrics full; existing keys update; %d-key push refused (max_push_nodes); RSS full %.0f MiB, after the refusals %.0f, peak %d (cap %d)",
		offered/1_000_000, pushes, took.Seconds(), accepted, maxNodes, refused, full+1, rssFull, rssEnd, peak.Load(), cardRSSCapMiB)
}

// waitTrendPoints waits until the trend store has written n points (or
// two minutes have passed: then the figures say so).
func waitTrendPoints(t *testing.T, base string, n float64) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		tr, _ := status(t, base)["trend"].(map[string]any)
		if w, _ := tr["points_written"].(float64); w >= n {
			return
		}
	}
	t.Errorf("the trend store wrote fewer than %.0f points in two minutes", n)
}
