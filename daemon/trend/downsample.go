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

// resolve says how a series of kind k is read for fn and as: counters by
// as (fn picks it when as is empty: sum → count, last, max and min →
// total, anything else → rate), gauges by fn (default avg).
func resolve(fn Fn, as As, k Kind) (Fn, As) {
	if k != Counter {
		if fn == FnAuto {
			fn = FnAvg
		}
		return fn, ""
	}
	if as != AsAuto {
		return "", as
	}
	switch fn {
	case FnSum:
		return "", AsCount
	case FnLast, FnMax, FnMin:
		return "", AsTotal
	}
	return "", AsRate
}
