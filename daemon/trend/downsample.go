package trend

// Read-time downsampling, shared by both backends so they answer alike.
//
// Output points sit on a grid of step-wide buckets aligned to multiples of
// step since the epoch (as Graphite does), so a graph refreshed a few
// seconds later shows the same buckets instead of jittering.

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// grid returns the start of the first bucket and the bucket width for at
// most points buckets covering [from, until]. One point is the whole range.
func grid(from, until int64, points int) (first, step int64) {
	span := until - from + 1
	if points <= 1 {
		return from, span
	}
	step = (span + int64(points) - 1) / int64(points)
	if floorDiv(until, step)-floorDiv(from, step)+1 > int64(points) {
		step = (span + int64(points) - 2) / int64(points-1)
	}
	// Round long steps to whole seconds, minutes, hours so buckets start
	// on round times; each costs at most a tenth of the points.
	for _, unit := range []int64{3_600_000, 60_000, 1000} {
		if step >= 10*unit {
			step = (step + unit - 1) / unit * unit
			break
		}
	}
	return floorDiv(from, step) * step, step
}

// effectiveFn resolves FnAuto and counter sums.
func effectiveFn(fn Fn, k Kind) Fn {
	switch {
	case fn == FnAuto && k == Counter:
		return FnRate
	case fn == FnAuto:
		return FnAvg
	case fn == FnSum && k == Counter:
		// A counter is stored as a running total; summing totals means
		// nothing, summing increments is what a Graphite user expects.
		return FnRate
	}
	return fn
}

// downsample folds raw points (sorted by time; points before from are
// history that rate and gap filling need) into buckets of step. An empty
// bucket within lookback of the previous point repeats it (gauges: the value
// stays until new samples come; counters: no increase), later ones are left
// out. now bounds filling so graphs do not run into the future.
func downsample(rs *RawSeries, fn Fn, from, until, first, step, lookback, now int64) []Point {
	fn = effectiveFn(fn, rs.Kind)
	counter := rs.Kind == Counter
	var out []Point
	j := 0
	n := len(rs.TS)
	var prev float64
	var prevTS int64
	hasPrev := false
	// Points before from only set the starting value.
	for j < n && rs.TS[j] < from {
		prev, prevTS, hasPrev = rs.Values[j], rs.TS[j], true
		j++
	}
	fillEnd := until
	if now < fillEnd {
		fillEnd = now
	}
	for bs := first; bs <= until; bs += step {
		be := bs + step // exclusive
		cnt := 0
		var sum, mx, mn, last, inc float64
		for j < n && rs.TS[j] < be && rs.TS[j] <= until {
			v := rs.Values[j]
			if hasPrev && rs.TS[j]-prevTS > lookback {
				// Silent for longer than numbers are refreshed: canopyd
				// was down, and what changed meanwhile is unknown.
				hasPrev = false
			}
			switch {
			case !hasPrev:
				// A series' first point is its baseline: what came before
				// it is unknown (a restart after a long stop). Writers put
				// an explicit 0 before a new counter's first value.
			case counter && v < prev:
				inc += v // reset
			default:
				inc += v - prev
			}
			if cnt == 0 || v > mx {
				mx = v
			}
			if cnt == 0 || v < mn {
				mn = v
			}
			sum += v
			last = v
			cnt++
			prev, prevTS, hasPrev = v, rs.TS[j], true
			j++
		}
		if cnt == 0 {
			if !hasPrev || bs-prevTS > lookback || bs > fillEnd {
				continue
			}
			out = appendGap(out, fn, bs, prev)
			continue
		}
		var v float64
		switch fn {
		case FnAvg:
			v = sum / float64(cnt)
		case FnMax:
			v = mx
		case FnMin:
			v = mn
		case FnSum:
			v = sum
		case FnLast:
			v = last
		case FnRate:
			v = inc
		}
		out = append(out, Point{bs, v})
	}
	return out
}

// appendGap appends the point of an empty bucket at bs inside the lookback
// of the last sample prev: a rate of 0, the last value carried for the
// other functions, and nothing for sum (the sum of no samples is not a
// sample; leave a gap).
func appendGap(out []Point, fn Fn, bs int64, prev float64) []Point {
	switch fn {
	case FnRate:
		return append(out, Point{bs, 0})
	case FnSum:
		return out
	}
	return append(out, Point{bs, prev})
}
