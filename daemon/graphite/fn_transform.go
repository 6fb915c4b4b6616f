package graphite

import (
	"fmt"
	"math"
	"time"

	"github.com/canopy-dev/canopy/daemon/timespec"
)

func addTransform(add func(*Func)) {
	factor := func(name, desc string, f func(v, x float64) float64) {
		add(&Func{Name: name, Group: "Transform", Description: desc,
			Params: []Param{sl("seriesList"), req("factor", TFloat)},
			fn: func(ec *evalContext, c *call) (any, error) {
				x := c.float(1, 0)
				return eachSeries(c.series(0), func(s *Series) string {
					return fmt.Sprintf("%s(%s,%s)", name, s.Name, pyG(x))
				}, name, pyFloat(x), func(v float64) float64 { return f(v, x) }), nil
			}})
	}
	factor("scale", "Multiplies each value by factor.", safeMul)
	factor("offset", "Adds factor to each value.", func(v, x float64) float64 { return v + x })
	factor("pow", "Raises each value to the power factor.", safePow)
	add(&Func{Name: "scaleToSeconds", Group: "Transform",
		Description: "Scales each value, a count per step, to a count per the given seconds.",
		Params:      []Param{sl("seriesList"), req("seconds", TFloat)},
		fn: func(ec *evalContext, c *call) (any, error) {
			secs := c.float(1, 0)
			for _, s := range c.series(0) {
				s.Tags["scaleToSeconds"] = pyFloat(secs)
				s.rename(fmt.Sprintf("scaleToSeconds(%s,%d)", s.Name, int64(secs)))
				f := secs / float64(s.Step)
				for i, v := range s.Values {
					if !isNull(v) {
						s.Values[i] = pyRound(v*f, 6)
					}
				}
			}
			return c.series(0), nil
		}})
	simple := func(name, desc string, f func(float64) float64) {
		add(&Func{Name: name, Group: "Transform", Description: desc,
			Params: []Param{sl("seriesList")},
			fn: func(ec *evalContext, c *call) (any, error) {
				return eachSeries(c.series(0), func(s *Series) string { return name + "(" + s.Name + ")" }, name, "1", f), nil
			}})
	}
	simple("absolute", "The absolute value of each value.", math.Abs)
	simple("invert", "1/x of each value.", func(v float64) float64 { return safePow(v, -1) })
	simple("squareRoot", "The square root of each value.", func(v float64) float64 { return safePow(v, 0.5) })
	logFn := func(name string) *Func {
		return &Func{Name: name, Group: "Transform", Description: "The logarithm of each value (base 10 by default); null for values <= 0.",
			Params: []Param{sl("seriesList"), opt("base", TInteger, int64(10))},
			fn: func(ec *evalContext, c *call) (any, error) {
				base := c.int(1, 10)
				out := []*Series{}
				for _, s := range c.series(0) {
					vals := make([]float64, 0, len(s.Values))
					for _, v := range s.Points() {
						if isNull(v) || v <= 0 {
							vals = append(vals, nan)
						} else {
							vals = append(vals, math.Log(v)/math.Log(float64(base)))
						}
					}
					s.Tags["log"] = fmt.Sprint(base)
					n := s.copy(fmt.Sprintf("log(%s, %d)", s.Name, base))
					n.Values, n.ValuesPerPoint = vals, 1
					out = append(out, n)
				}
				return out, nil
			}}
	}
	add(logFn("log"))
	// The name issue 18 lists; graphite-web registers the same function as log.
	add(logFn("logarithm"))
	deriv := func(name, desc string, params []Param, f func(c *call, s *Series) []float64) {
		add(&Func{Name: name, Group: "Transform", Description: desc, Params: params,
			fn: func(ec *evalContext, c *call) (any, error) {
				out := []*Series{}
				for _, s := range c.series(0) {
					vals := f(c, s)
					s.Tags[name] = "1"
					n := s.copy(name + "(" + s.Name + ")")
					n.Values, n.ValuesPerPoint = vals, 1
					out = append(out, n)
				}
				return out, nil
			}})
	}
	deriv("derivative", "The difference between each value and the one before.", []Param{sl("seriesList")},
		func(c *call, s *Series) []float64 {
			prev := nan
			var out []float64
			for _, v := range s.Points() {
				if isNull(prev) || isNull(v) {
					out = append(out, nan)
				} else {
					out = append(out, v-prev)
				}
				prev = v
			}
			return out
		})
	minMax := []Param{sl("seriesList"), opt("maxValue", TFloat, nil), opt("minValue", TFloat, nil)}
	deriv("nonNegativeDerivative", "The increase between each value and the one before; a decrease (counter reset) is null, or wraps at maxValue.", minMax,
		func(c *call, s *Series) []float64 {
			maxV, minV := c.float(1, nan), c.float(2, nan)
			prev := nan
			var out []float64
			for _, v := range s.Points() {
				var d float64
				d, prev = nonNegativeDelta(v, prev, maxV, minV)
				out = append(out, d)
			}
			return out
		})
	deriv("perSecond", "The increase per second between each value and the one before (counter resets as in nonNegativeDerivative).", minMax,
		func(c *call, s *Series) []float64 {
			maxV, minV := c.float(1, nan), c.float(2, nan)
			prev := nan
			var out []float64
			for _, v := range s.Points() {
				var d float64
				d, prev = nonNegativeDelta(v, prev, maxV, minV)
				if isNull(d) {
					out = append(out, nan)
				} else {
					out = append(out, pyRound(d/float64(s.Step), 6))
				}
			}
			return out
		})
	deriv("integral", "The running total of the values.", []Param{sl("seriesList")},
		func(c *call, s *Series) []float64 {
			cur := 0.0
			var out []float64
			for _, v := range s.Points() {
				if isNull(v) {
					out = append(out, nan)
				} else {
					cur += v
					out = append(out, cur)
				}
			}
			return out
		})
	add(&Func{Name: "delay", Group: "Transform", Description: "Shifts the values by steps points (nulls come in).",
		Params: []Param{sl("seriesList"), req("steps", TInteger)},
		fn: func(ec *evalContext, c *call) (any, error) {
			steps := int(c.int(1, 0))
			out := []*Series{}
			for _, s := range c.series(0) {
				v := s.Points()
				var nv []float64
				if steps < 0 {
					k := -steps
					nv = append(nv, v[min(k, len(v)):]...)
					for range min(k, len(v)) {
						nv = append(nv, nan)
					}
				} else {
					for range min(steps, len(v)) {
						nv = append(nv, nan)
					}
					// Python's series[:-steps]; [:-0] is empty.
					if steps > 0 {
						nv = append(nv, v[:max(0, len(v)-steps)]...)
					}
				}
				s.Tags["delay"] = fmt.Sprint(steps)
				n := s.copy(fmt.Sprintf("delay(%s,%d)", s.Name, steps))
				n.Values, n.ValuesPerPoint = nv, 1
				out = append(out, n)
			}
			return out, nil
		}})
	add(&Func{Name: "timeShift", Group: "Transform", Description: "The series as it was timeShift ago (default back in time), drawn now.",
		Params: []Param{sl("seriesList"), req("timeShift", TInterval), opt("resetEnd", TBoolean, true), opt("alignDst", TBoolean, false)},
		fn:     timeShift})
	add(&Func{Name: "summarize", Group: "Transform", Description: "Folds the values into buckets of intervalString with func (default sum).",
		Params: []Param{sl("seriesList"), req("intervalString", TInterval), opt("func", TAggFunc, "sum"), opt("alignToFrom", TBoolean, false)},
		fn:     summarize})
	add(&Func{Name: "hitcount", Group: "Transform", Description: "Estimates hits per interval from a per-second rate.",
		Params: []Param{sl("seriesList"), req("intervalString", TInterval), opt("alignToInterval", TBoolean, false)},
		fn:     hitcount})
	add(&Func{Name: "keepLastValue", Group: "Transform", Description: "Fills up to limit nulls in a row with the last value.",
		Params: []Param{sl("seriesList"), opt("limit", TIntOrInf, inf)},
		fn: func(ec *evalContext, c *call) (any, error) {
			limit := inf
			if c.has(1) {
				limit = toFloat(c.vals[1])
			}
			for _, s := range c.series(0) {
				s.rename("keepLastValue(" + s.Name + ")")
				nulls := 0
				last := nan
				for i, v := range s.Values {
					if isNull(v) {
						nulls++
						continue
					}
					if nulls > 0 && float64(nulls) <= limit && !isNull(last) {
						for j := i - nulls; j < i; j++ {
							s.Values[j] = last
						}
					}
					nulls, last = 0, v
				}
				if nulls > 0 && float64(nulls) <= limit && !isNull(last) {
					for j := len(s.Values) - nulls; j < len(s.Values); j++ {
						s.Values[j] = last
					}
				}
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "transformNull", Group: "Transform", Description: "Replaces nulls with default (0), only where referenceSeries has a value if given.",
		Params: []Param{sl("seriesList"), opt("default", TFloat, 0.0), opt("referenceSeries", TSeriesList, nil)},
		fn: func(ec *evalContext, c *call) (any, error) {
			def := c.float(1, 0)
			ref := c.series(2)
			var defaults []float64
			if len(ref) > 0 {
				for _, r := range rows(ref) {
					if len(nonNull(r)) > 0 {
						defaults = append(defaults, def)
					} else {
						defaults = append(defaults, nan)
					}
				}
			}
			for _, s := range c.series(0) {
				// An absent default stays Python's int 0 (defaults are not
				// validated, so not made floats).
				s.Tags["transformNull"] = pyNum(c.vals[1])
				if !c.has(1) {
					s.Tags["transformNull"] = "0"
				}
				if len(ref) > 0 {
					s.Tags["referenceSeries"] = "1"
					s.rename(fmt.Sprintf("transformNull(%s,%s,referenceSeries)", s.Name, pyG(def)))
				} else {
					s.rename(fmt.Sprintf("transformNull(%s,%s)", s.Name, pyG(def)))
				}
				pts := s.Points()
				n := len(pts)
				if defaults != nil {
					n = max(n, len(defaults))
				}
				vals := make([]float64, n)
				for i := range n {
					v := nan
					if i < len(pts) {
						v = pts[i]
					}
					d := def
					if defaults != nil {
						d = nan
						if i < len(defaults) {
							d = defaults[i]
						}
					}
					if isNull(v) {
						v = d
					}
					vals[i] = v
				}
				s.Values, s.ValuesPerPoint = vals, 1
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "consolidateBy", Group: "Special", Description: "How the series is folded when it has more points than asked for (maxDataPoints, a graph's width).",
		Params: []Param{sl("seriesList"), {Name: "consolidationFunc", Type: TString, Required: true,
			Options: []string{"sum", "average", "avg", "avg_zero", "min", "max", "first", "last"}}},
		fn: func(ec *evalContext, c *call) (any, error) {
			f := c.str(1, "average")
			for _, s := range c.series(0) {
				s.ConsolidationFunc = f
				s.Tags["consolidateBy"] = f
				s.rename(fmt.Sprintf(`consolidateBy(%s,"%s")`, s.Name, f))
			}
			return c.series(0), nil
		}})
}

// maxBuckets bounds summarize's and hitcount's output.
const maxBuckets = 1_000_000

func nonNegativeDelta(v, prev, maxV, minV float64) (float64, float64) {
	if !isNull(maxV) && !isNull(v) && v > maxV {
		return nan, nan
	}
	if !isNull(minV) && !isNull(v) && v < minV {
		return nan, nan
	}
	if isNull(prev) || isNull(v) {
		return nan, v
	}
	if v >= prev {
		return v - prev, v
	}
	if !isNull(maxV) {
		m := minV
		if isNull(m) {
			m = 0
		}
		return maxV + 1 + v - prev - m, v
	}
	if !isNull(minV) {
		return v - minV, v
	}
	return nan, v
}

func timeShift(ec *evalContext, c *call) (any, error) {
	shift := c.str(1, "")
	if shift != "" && shift[0] >= '0' && shift[0] <= '9' {
		shift = "-" + shift
	}
	d, err := timespec.ParseOffset(shift)
	if err != nil {
		return nil, inputErrorf("Invalid interval value: '%s': %v", shift, err)
	}
	list := c.series(0)
	if len(list) == 0 {
		return []*Series{}, nil
	}
	first := list[0]
	sec := int64(d / time.Second)
	shifted, err := ec.with(ec.from+sec, ec.until+sec).evalSeries(c.expr.Args[0])
	if err != nil {
		return nil, err
	}
	for _, s := range shifted {
		s.Tags["timeShift"] = shift
		s.Name = fmt.Sprintf(`timeShift(%s, "%s")`, s.Name, shift)
		if c.bool(2, true) {
			s.End = first.End
		} else {
			s.End = s.End - s.Start + first.Start
		}
		s.Start = first.Start
	}
	return shifted, nil
}

// evalSeries evaluates an argument again (with this context's range) as
// a series list: the functions that need data from before the range do.
func (ec *evalContext) evalSeries(e *Expr) ([]*Series, error) {
	v, err := ec.eval(e)
	if err != nil {
		return nil, err
	}
	s, _ := v.([]*Series)
	return s, nil
}

func intervalSeconds(s string) (int64, error) {
	d, err := timespec.ParseOffset(s)
	if err != nil {
		return 0, err
	}
	return int64(d / time.Second), nil
}

func summarize(ec *evalContext, c *call) (any, error) {
	is := c.str(1, "")
	interval, err := intervalSeconds(is)
	if err != nil || interval == 0 {
		return nil, inputErrorf(`Invalid "interval" value specified for function "summarize" parameter "intervalString": '%s'`, is)
	}
	fn := c.str(2, "sum")
	f, ok := aggFunc(fn)
	if !ok {
		return nil, inputErrorf("Unsupported aggregation function: %s", fn)
	}
	align := c.bool(3, false)
	if (ec.until-ec.from)/interval > maxBuckets {
		return nil, inputErrorf("summarize: interval %s makes more than %d buckets", is, maxBuckets)
	}
	out := []*Series{}
	for _, s := range c.series(0) {
		var ns, ne int64
		if align {
			ns, ne = s.Start, s.End
		} else {
			ns = s.Start - mod(s.Start, interval)
			ne = s.End - mod(s.End, interval) + interval
		}
		pts := s.Points()
		var ts []int64
		for t := s.Start; t < s.End; t += s.Step {
			ts = append(ts, t)
		}
		n := min(len(ts), len(pts))
		intervalPoints := float64(interval) / float64(s.Step)
		var vals []float64
		i := 0
		t := ns
		for t < ne {
			st := i
			nn := 0
			for i < n && ts[i] < t+interval {
				if ts[i] <= t {
					st = i
				}
				if ts[i] >= t && !isNull(pts[i]) {
					nn++
				}
				i++
			}
			if nn > 0 && float64(nn)/intervalPoints >= s.XFilesFactor {
				vals = append(vals, f(pts[st:i]))
			} else {
				vals = append(vals, nan)
			}
			t += interval
		}
		if align {
			ne = t
		}
		s.Tags["summarize"] = is
		s.Tags["summarizeFunction"] = fn
		alignText := ""
		if align {
			alignText = ", true"
		}
		n2 := s.copy(fmt.Sprintf(`summarize(%s, "%s", "%s"%s)`, s.Name, is, fn, alignText))
		n2.Start, n2.End, n2.Step, n2.Values, n2.ValuesPerPoint = ns, ne, interval, vals, 1
		out = append(out, n2)
	}
	return out, nil
}

func floorDivMod(a, b int64) (int64, int64) {
	q := a / b
	r := a % b
	if r != 0 && (r < 0) != (b < 0) {
		q--
		r += b
	}
	return q, r
}

func hitcount(ec *evalContext, c *call) (any, error) {
	is := c.str(1, "")
	interval, err := intervalSeconds(is)
	if err != nil || interval <= 0 {
		return nil, inputErrorf(`Invalid "interval" value specified for function "hitcount" parameter "intervalString": '%s'`, is)
	}
	align := c.bool(2, false)
	if (ec.until-ec.from)/interval > maxBuckets {
		return nil, inputErrorf("hitcount: interval %s makes more than %d buckets", is, maxBuckets)
	}
	list := c.series(0)
	if align {
		st := time.Unix(ec.from, 0).In(ec.loc)
		y, mo, d := st.Date()
		switch {
		case interval >= 86400:
			st = time.Date(y, mo, d, 0, 0, 0, 0, ec.loc)
		case interval >= 3600:
			st = time.Date(y, mo, d, st.Hour(), 0, 0, 0, ec.loc)
		case interval >= 60:
			st = time.Date(y, mo, d, st.Hour(), st.Minute(), 0, 0, ec.loc)
		}
		list, err = ec.with(st.Unix(), ec.until).evalSeries(c.expr.Args[0])
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			cnt := (s.End - s.Start) / interval
			s.End = s.Start + cnt*interval + interval
		}
	}
	out := []*Series{}
	for _, s := range list {
		step := s.Step
		bucketCount := int64(math.Ceil(float64(s.End-s.Start) / float64(interval)))
		buckets := make([][]float64, bucketCount)
		newStart := s.End - bucketCount*interval
		for i, v := range s.Points() {
			if isNull(v) {
				continue
			}
			startTime := s.Start + int64(i)*step
			sb, sm := floorDivMod(startTime-newStart, interval)
			endTime := startTime + step
			eb, em := floorDivMod(endTime-newStart, interval)
			if eb >= bucketCount {
				eb, em = bucketCount-1, interval
			}
			if sb == eb {
				if sb >= 0 {
					buckets[sb] = append(buckets[sb], v*float64(em-sm))
				}
				continue
			}
			if sb >= 0 {
				buckets[sb] = append(buckets[sb], v*float64(interval-sm))
			}
			for j := sb + 1; j < eb; j++ {
				if j >= 0 {
					buckets[j] = append(buckets[j], v*float64(interval))
				}
			}
			if em > 0 {
				buckets[eb] = append(buckets[eb], v*float64(em))
			}
		}
		vals := make([]float64, len(buckets))
		for i, b := range buckets {
			if len(b) > 0 {
				vals[i] = sum(b)
			} else {
				vals[i] = nan
			}
		}
		s.Tags["hitcount"] = is
		alignText := ""
		if align {
			alignText = ", true"
		}
		n := s.copy(fmt.Sprintf(`hitcount(%s, "%s"%s)`, s.Name, is, alignText))
		n.Start, n.Step, n.Values, n.ValuesPerPoint = newStart, interval, vals, 1
		out = append(out, n)
	}
	return out, nil
}
