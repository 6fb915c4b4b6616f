package trend

import "math"

// The read rules — rates, counter resets, gaps and staleness — live here,
// once. Both backends hand the kernel per-bucket summaries (the embedded
// store and short remote ranges summarise raw points with summarize; long
// remote ranges get them from the server's *_over_time functions) and the
// kernel turns them into points, so every backend answers alike.
//
// Rules (documented in README.md, "Reading: the rules"):
//
//   - Buckets are step wide, aligned to multiples of step since the epoch;
//     a point is labelled with its bucket's start. Every bucket from the
//     first to until gets a point; NaN (JSON null) where there is none.
//   - Counter (add node, stored as the running total): the count of a
//     bucket is the increase from the last sample before it to its last
//     sample. A total lower than the one before is a reset (a restart
//     without a snapshot, a relay starting over): the counter started
//     again from zero, so the increase is the new total, never negative.
//     A sample more than lookback after the one before (canopyd was down)
//     is a baseline: what was counted meanwhile is unknown, nothing is
//     invented. A bucket without samples within lookback of a sample
//     counted nothing (count 0); the store rewrites every counter hourly,
//     so a live counter is never further than that from a sample.
//     rate = count / step in seconds; total = the last total.
//   - Gauge (average, max, min, last): a bucket with samples has the fn of
//     them. A sample stands for stale (default two ticks) after its time:
//     a bucket without samples that lies wholly inside that time repeats
//     it (steps finer than the tick); any other empty bucket has no point.
//     A gauge that stops receiving is therefore null after stale.

// sample is a value at a time.
type sample struct {
	v  float64
	ts int64
	ok bool
}

// bucketStats summarises the samples of one bucket.
type bucketStats struct {
	n               int // samples; 0: empty
	first, last     float64
	firstTS, lastTS int64
	sum, min, max   float64
	inc             float64 // counter increase between samples inside the bucket
}

// increase is what a counter counted going from total prev to total v:
// a lower total is a reset, counted from zero.
func increase(prev, v float64) float64 {
	if v < prev {
		return v
	}
	return v - prev
}

// kernel applies the rules for one read.
type kernel struct {
	lookback int64 // counters: longest silence that is not a stop (ms)
	stale    int64 // gauges: how long a sample stands (ms)
	now      int64 // empty buckets starting later have no point (0: no bound)
}

// summarize folds raw points (sorted) into nb buckets of step from first,
// taking only points in [from, until]; the last point before from is
// returned as the history the first bucket continues from.
func (k kernel) summarize(rs *RawSeries, from, until, first, step int64, nb int) ([]bucketStats, sample) {
	stats := make([]bucketStats, nb)
	var prev sample
	j, n := 0, len(rs.TS)
	for j < n && rs.TS[j] < from {
		prev = sample{rs.Values[j], rs.TS[j], true}
		j++
	}
	last := prev
	for ; j < n && rs.TS[j] <= until; j++ {
		t, v := rs.TS[j], rs.Values[j]
		i := int(floorDiv(t-first, step))
		if i < 0 || i >= nb {
			continue
		}
		st := &stats[i]
		if st.n == 0 {
			st.first, st.firstTS, st.min, st.max = v, t, v, v
		} else if t-last.ts <= k.lookback {
			st.inc += increase(last.v, v)
		}
		st.n++
		st.last, st.lastTS = v, t
		st.sum += v
		st.min, st.max = math.Min(st.min, v), math.Max(st.max, v)
		last = sample{v, t, true}
	}
	return stats, prev
}

// points applies the rules to one series' buckets. prev is the last
// sample before the first bucket, if any.
func (k kernel) points(kind Kind, fn Fn, as As, stats []bucketStats, first, step int64, prev sample) []Point {
	out := make([]Point, len(stats))
	perSecond := 1000 / float64(step)
	for i := range stats {
		st := &stats[i]
		bs := first + int64(i)*step
		v := math.NaN()
		// Nothing is filled into the future.
		future := k.now != 0 && bs > k.now
		if kind == Counter {
			var count float64
			live := st.n > 0 || (prev.ok && bs-prev.ts <= k.lookback && !future)
			if st.n > 0 {
				count = st.inc
				if prev.ok && st.firstTS-prev.ts <= k.lookback {
					count += increase(prev.v, st.first)
				}
				prev = sample{st.last, st.lastTS, true}
			}
			if live {
				switch as {
				case AsCount:
					v = count
				case AsTotal:
					v = prev.v
				default:
					v = count * perSecond
				}
			}
			out[i] = Point{bs, v}
			continue
		}
		switch {
		case st.n > 0:
			switch fn {
			case FnMax:
				v = st.max
			case FnMin:
				v = st.min
			case FnLast:
				v = st.last
			case FnSum:
				v = st.sum
			case FnRate:
				base := st.first
				if prev.ok && st.firstTS-prev.ts <= k.lookback {
					base = prev.v
				}
				v = st.last - base
			default:
				v = st.sum / float64(st.n)
			}
			prev = sample{st.last, st.lastTS, true}
		case prev.ok && bs+step <= prev.ts+k.stale && fn != FnSum && !future:
			// Finer than the samples: the last one still stands.
			v = prev.v
			if fn == FnRate {
				v = 0
			}
		}
		out[i] = Point{bs, v}
	}
	return out
}

// hasValue reports whether any point is a number.
func hasValue(pts []Point) bool {
	for _, p := range pts {
		if !math.IsNaN(p.V) {
			return true
		}
	}
	return false
}
