package graph

import (
	"math"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
)

// timeTicker puts ticks on round times (every 10 s, 5 min, 6 h, Monday,
// month start, year start …) in loc, choosing the smallest step that keeps
// about n ticks, with labels that say just enough for that step.
type timeTicker struct {
	n   int
	loc *time.Location
}

// timeStep is a candidate tick spacing: a fixed duration, or a count of
// calendar days, months or years (whose length varies).
type timeStep struct {
	d            time.Duration
	days, months int
	years        int
	approx       time.Duration // for choosing
}

var timeSteps = func() []timeStep {
	var s []timeStep
	for _, d := range []time.Duration{
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	} {
		s = append(s, timeStep{d: d, approx: d})
	}
	const day = 24 * time.Hour
	s = append(s, timeStep{days: 1, approx: day}, timeStep{days: 2, approx: 2 * day}, timeStep{days: 7, approx: 7 * day})
	for _, m := range []int{1, 2, 3, 6} {
		s = append(s, timeStep{months: m, approx: time.Duration(m) * 30 * day})
	}
	for _, y := range []int{1, 2, 5, 10, 20, 50, 100} {
		s = append(s, timeStep{years: y, approx: time.Duration(y) * 365 * day})
	}
	return s
}()

// Ticks implements plot.Ticker for Unix seconds.
func (tt timeTicker) Ticks(min, max float64) []plot.Tick {
	loc := tt.loc
	if loc == nil {
		loc = time.UTC
	}
	n := max0(tt.n, 2)
	span := time.Duration((max - min) * float64(time.Second))
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s.approx <= time.Duration(n) {
			step = s
			break
		}
	}
	lo := time.Unix(0, int64(min*1e9)).In(loc)
	hi := time.Unix(0, int64(max*1e9)).In(loc)
	var ticks []plot.Tick
	// A tick at the very left edge would collide with the lowest value label.
	edge := time.Duration((max - min) * 0.03 * float64(time.Second))
	add := func(t time.Time) {
		if t.Before(lo.Add(edge)) || t.After(hi) {
			return
		}
		ticks = append(ticks, plot.Tick{
			Value: float64(t.UnixNano()) / 1e9,
			Label: timeLabel(t, step),
		})
	}
	midnight := time.Date(lo.Year(), lo.Month(), lo.Day(), 0, 0, 0, 0, loc)
	switch {
	case step.d > 0:
		k := lo.Sub(midnight) / step.d
		for t := midnight.Add(k * step.d); !t.After(hi) && len(ticks) < 1000; t = t.Add(step.d) {
			add(t)
		}
	case step.days > 0:
		start := midnight
		if step.days == 7 { // weeks start on Monday
			start = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7))
		}
		for t := start; !t.After(hi) && len(ticks) < 1000; t = t.AddDate(0, 0, step.days) {
			add(t)
		}
	case step.months > 0:
		m := (int(lo.Month()) - 1) / step.months * step.months
		for t := time.Date(lo.Year(), time.Month(m+1), 1, 0, 0, 0, 0, loc); !t.After(hi) && len(ticks) < 1000; t = t.AddDate(0, step.months, 0) {
			add(t)
		}
	default:
		y := lo.Year() / step.years * step.years
		for t := time.Date(y, 1, 1, 0, 0, 0, 0, loc); !t.After(hi) && len(ticks) < 1000; t = t.AddDate(step.years, 0, 0) {
			add(t)
		}
	}
	return ticks
}

func timeLabel(t time.Time, step timeStep) string {
	switch {
	case step.d > 0 && step.d < time.Minute:
		return t.Format("15:04:05")
	case step.d > 0:
		if t.Hour() == 0 && t.Minute() == 0 {
			return t.Format("Jan 2")
		}
		return t.Format("15:04")
	case step.days > 0:
		return t.Format("Jan 2")
	case step.months > 0:
		if t.Month() == time.January {
			return t.Format("2006")
		}
		return t.Format("Jan")
	}
	return t.Format("2006")
}

// valueTicker puts about n ticks on round values of a unit (1-2-5 steps of
// the prefix that suits the range) and labels them with the unit. With abs
// set, negative values are labelled by their magnitude (the mirrored half
// of a net chart).
type valueTicker struct {
	unit Unit
	n    int
	abs  bool
}

// Ticks implements plot.Ticker.
func (vt valueTicker) Ticks(min, max float64) []plot.Tick {
	if !(max > min) || math.IsInf(max-min, 0) {
		return []plot.Tick{{Value: min, Label: formatValue(min, vt.unit, vt.abs)}}
	}
	m := math.Max(math.Abs(min), math.Abs(max))
	scale, suffix := unitScale(m, vt.unit)
	step := niceStep((max-min)/scale/float64(max0(vt.n, 2))) * scale
	if scale >= 1000 && step < scale && vt.unit != UnitSeconds {
		// 200, 400 … 1000 read better than 0.2k, 0.4k … 1.0k.
		scale, suffix = unitScale(m/1000, vt.unit)
	}
	var ticks []plot.Tick
	for v := math.Ceil(min/step-1e-9) * step; v <= max+step*1e-9 && len(ticks) < 200; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: formatTick(v, step, scale, suffix, vt.unit, vt.abs)})
	}
	return ticks
}

// niceStep rounds x up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if x <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// unitScale returns the divisor and suffix that suit a magnitude m in unit u.
func unitScale(m float64, u Unit) (float64, string) {
	switch u {
	case UnitPercent:
		return 1, "%"
	case UnitSeconds:
		switch {
		case m == 0:
			return 1, "s"
		case m < 1e-3:
			return 1e-6, "µs"
		case m < 1:
			return 1e-3, "ms"
		case m < 120:
			return 1, "s"
		case m < 7200:
			return 60, "min"
		case m < 2*86400:
			return 3600, "h"
		}
		return 86400, "d"
	}
	suffix := ""
	switch u {
	case UnitBytes:
		suffix = "B"
	case UnitBytesPerSec:
		suffix = "B/s"
	case UnitPerSec:
		suffix = "/s"
	}
	prefixes := []string{"", "k", "M", "G", "T", "P", "E"}
	scale, i := 1.0, 0
	for m >= 1000*scale && i < len(prefixes)-1 {
		scale *= 1000
		i++
	}
	if u == UnitNone || u == UnitPerSec || u == "" {
		if i == 0 && m > 0 && m < 0.01 {
			return 1e-3, "m" + suffix
		}
		return scale, prefixes[i] + suffix
	}
	return scale, prefixes[i] + suffix
}

func formatTick(v, step, scale float64, suffix string, u Unit, abs bool) string {
	if abs {
		v = math.Abs(v)
	}
	s := step / scale
	prec := 0
	if s < 1 {
		prec = int(math.Ceil(-math.Log10(s) - 1e-9))
		if r := s * math.Pow(10, float64(prec)); math.Abs(r-math.Round(r)) > 1e-6 {
			prec++
		}
	} else if math.Abs(s-math.Round(s)) > 1e-6 {
		prec = 1
	}
	if v == 0 && (u == UnitNone || u == "") {
		return "0"
	}
	return joinUnit(strconv.FormatFloat(v/scale, 'f', prec, 64), suffix, u)
}

// formatValue labels a single value with its unit, three significant digits.
func formatValue(v float64, u Unit, abs bool) string {
	if abs {
		v = math.Abs(v)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	scale, suffix := unitScale(math.Abs(v), u)
	x := v / scale
	prec := 0
	switch a := math.Abs(x); {
	case a == 0 || a >= 100:
	case a >= 10:
		prec = 1
	default:
		prec = 2
	}
	s := strconv.FormatFloat(x, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return joinUnit(s, suffix, u)
}

func joinUnit(num, suffix string, u Unit) string {
	switch {
	case suffix == "":
		return num
	case u == UnitNone || u == "" || u == UnitPerSec || u == UnitPercent:
		return num + suffix // 1.5k, 20/s, 25%
	}
	return num + " " + suffix // 1.5 kB, 250 ms
}

func max0(a, b int) int {
	if a > b {
		return a
	}
	return b
}
