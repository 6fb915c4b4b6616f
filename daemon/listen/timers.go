package listen

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/daemon/tree"
)

// StatsD timers as etsy/statsd flushes them. The samples of every timer
// are kept for one flush window (Options.SetWindow, the trend tick); at
// the end of it each timer gets, under timers,NAME (action last):
//
//	count        samples, each weighed 1/sample rate
//	count_ps     count per second of the window
//	sum, sum_squares, mean, lower, upper, median, std (population)
//	per percent threshold P in (0, 100] (default 90; listeners[].percentiles):
//	count_P, mean_P, sum_P, sum_squares_P, upper_P (99.9 is 99_9)
//
// computed exactly as etsy's lib/process_metrics.js does. A timer that
// received nothing in a window gets count 0 and count_ps 0 only, so its
// other fields go stale in the trend store. The cumulative histogram
// buckets timers,NAME,le,BOUND (add) stay as they were.

// DefaultPercentiles are etsy/statsd's default percentThreshold.
var DefaultPercentiles = []float64{90}

// maxTimerSamples bounds the samples one timer keeps per window; past it
// samples still count and fill the buckets.
const maxTimerSamples = 100_000

// timerAcc is one timer's window.
type timerAcc struct {
	path  []string
	vals  []float64
	count float64 // Σ 1/rate
}

// addTimer records a sample for the window.
func (s *shared) addTimer(c *cached, v, rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.timers[c.key]
	if a == nil {
		if len(s.timers) >= maxPathCache {
			return
		}
		a = &timerAcc{path: c.path}
		s.timers[c.key] = a
	}
	if len(a.vals) < maxTimerSamples {
		a.vals = append(a.vals, v)
	}
	a.count += 1 / rate
}

// flushTimers merges every timer's fields for the window that ends and
// starts a new one.
func (s *shared) flushTimers(window time.Duration) {
	s.mu.Lock()
	var deltas []tree.Delta
	for k, a := range s.timers {
		deltas = append(deltas, timerFields(a, window, s.percentiles)...)
		if len(a.vals) == 0 && a.count == 0 {
			// Quiet for a whole window after its zero: forget it.
			delete(s.timers, k)
			continue
		}
		a.vals, a.count = a.vals[:0], 0
	}
	s.mu.Unlock()
	if len(deltas) > 0 {
		_, _ = s.t.Apply(deltas)
	}
}

// timerFields is etsy's per-timer computation.
func timerFields(a *timerAcc, window time.Duration, pcts []float64) []tree.Delta {
	field := func(name string, v float64) tree.Delta {
		return tree.Delta{Path: appendPath(a.path, name), Value: v}
	}
	out := []tree.Delta{field("count", a.count), field("count_ps", a.count/window.Seconds())}
	vals := a.vals
	n := len(vals)
	if n == 0 {
		return out
	}
	slices.Sort(vals)
	cum := make([]float64, n)
	cumSq := make([]float64, n)
	for i, v := range vals {
		cum[i], cumSq[i] = v, v*v
		if i > 0 {
			cum[i] += cum[i-1]
			cumSq[i] += cumSq[i-1]
		}
	}
	lower, upper := vals[0], vals[n-1]
	for _, pct := range pcts {
		k := n
		sum, sumSq, maxAt := cum[n-1], cumSq[n-1], upper
		if n > 1 {
			k = int(math.Floor(pct/100*float64(n) + 0.5)) // JavaScript's Math.round
			if k == 0 {
				continue
			}
			maxAt, sum, sumSq = vals[k-1], cum[k-1], cumSq[k-1]
		}
		name := pctName(pct)
		out = append(out, field("count_"+name, float64(k)), field("mean_"+name, sum/float64(k)),
			field("upper_"+name, maxAt), field("sum_"+name, sum), field("sum_squares_"+name, sumSq))
	}
	sum, sumSq := cum[n-1], cumSq[n-1]
	mean := sum / float64(n)
	var dev float64
	for _, v := range vals {
		dev += (v - mean) * (v - mean)
	}
	mid := n / 2
	median := vals[mid]
	if n%2 == 0 {
		median = (vals[mid-1] + vals[mid]) / 2
	}
	return append(out, field("sum", sum), field("sum_squares", sumSq), field("mean", mean),
		field("lower", lower), field("upper", upper), field("median", median), field("std", math.Sqrt(dev/float64(n))))
}

// pctName is etsy's clean_pct: 90 → "90", 99.9 → "99_9".
func pctName(p float64) string {
	s := strconv.FormatFloat(p, 'f', -1, 64)
	return strings.ReplaceAll(s, ".", "_")
}
