package graphite

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// functions is the registry: every function canopy answers, with
// graphite-web 1.1's names, parameters and semantics. Built once, never
// changed.
var functions map[string]*Func

// init builds the registry; an initializer expression would be a cycle
// (functions evaluate their arguments, which looks functions up).
func init() { functions = buildFunctions() }

// Functions returns the registry, sorted by name (for /functions).
func Functions() []*Func {
	out := make([]*Func, 0, len(functions))
	for _, f := range functions {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sl(name string) Param               { return Param{Name: name, Type: TSeriesList, Required: true} }
func req(name string, t ParamType) Param { return Param{Name: name, Type: t, Required: true} }
func opt(name string, t ParamType, def any) Param {
	return Param{Name: name, Type: t, Default: def}
}
func many(name string, t ParamType, required bool) Param {
	return Param{Name: name, Type: t, Required: required, Multiple: true}
}

func buildFunctions() map[string]*Func {
	m := map[string]*Func{}
	add := func(f *Func) { m[f.Name] = f }
	addCombine(add)
	addTransform(add)
	addCalculate(add)
	addFilter(add)
	addAlias(add)
	addGraph(add)
	return m
}

// seriesLists flattens a multiple seriesList parameter.
func seriesLists(c *call, i int) [][]*Series {
	var out [][]*Series
	for _, v := range c.multi(i) {
		if s, ok := v.([]*Series); ok {
			out = append(out, s)
		}
	}
	return out
}

// --- helpers that mirror graphite-web's ---

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func lcm(a, b int64) int64 {
	if a == b {
		return a
	}
	if a < b {
		a, b = b, a
	}
	return a / gcd(a, b) * b
}

// normalize brings series to a common step (the lcm), as graphite-web's
// normalize does, and returns the common start, end and step. ok is
// false for no series.
func normalize(lists ...[]*Series) (all []*Series, start, end, step int64, ok bool) {
	for _, l := range lists {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return nil, 0, 0, 0, false
	}
	step = all[0].Step
	for _, s := range all[1:] {
		step = lcm(step, s.Step)
	}
	start, end = all[0].Start, all[0].End
	for _, s := range all {
		s.ValuesPerPoint = int(step / s.Step)
		start = min(start, s.Start)
		end = max(end, s.End)
	}
	end -= (end - start) % step
	return all, start, end, step, true
}

// rows returns the i-th value of every series (consolidated), null past
// a series' end: Python's izip_longest over the series.
func rows(series []*Series) [][]float64 {
	pts := make([][]float64, len(series))
	n := 0
	for i, s := range series {
		pts[i] = s.Points()
		n = max(n, len(pts[i]))
	}
	out := make([][]float64, n)
	for r := range n {
		row := make([]float64, len(series))
		for i := range series {
			if r < len(pts[i]) {
				row[i] = pts[i][r]
			} else {
				row[i] = nan
			}
		}
		out[r] = row
	}
	return out
}

func nonNull(vals []float64) []float64 {
	out := make([]float64, 0, len(vals))
	for _, v := range vals {
		if !isNull(v) {
			out = append(out, v)
		}
	}
	return out
}

func xffOK(nonNullCount, total int, xff float64) bool {
	if nonNullCount == 0 || total == 0 {
		return false
	}
	return float64(nonNullCount)/float64(total) >= xff
}

// aggregation functions (graphite-web's aggfuncs), over one row with nulls.
func aggFunc(name string) (func([]float64) float64, bool) {
	switch strings.TrimSuffix(name, "Series") {
	case "average", "avg":
		return safeAvg, true
	case "avg_zero":
		return func(v []float64) float64 {
			if len(v) == 0 {
				return nan
			}
			var s float64
			for _, x := range v {
				if !isNull(x) {
					s += x
				}
			}
			return s / float64(len(v))
		}, true
	case "median":
		return safeMedian, true
	case "sum", "total":
		return safeSum, true
	case "min":
		return safeMin, true
	case "max":
		return safeMax, true
	case "diff":
		return func(v []float64) float64 {
			nn := nonNull(v)
			if len(nn) == 0 {
				return nan
			}
			// sum([first, -second, -third, ...]) in order.
			s := 0.0
			for i, x := range nn {
				if i > 0 {
					x = -x
				}
				s += x
			}
			return s
		}, true
	case "stddev":
		return safeStdDev, true
	case "count":
		return func(v []float64) float64 { return float64(len(nonNull(v))) }, true
	case "range", "rangeOf":
		return func(v []float64) float64 {
			if len(nonNull(v)) == 0 {
				return nan
			}
			return safeMax(v) - safeMin(v)
		}, true
	case "multiply":
		return func(v []float64) float64 {
			p := 1.0
			for i, x := range v {
				if isNull(x) {
					return nan
				}
				if i == 0 {
					p = x
				} else {
					p *= x
				}
			}
			return p
		}, true
	case "last", "current":
		return safeLast, true
	}
	return nil, false
}

func safeSum(v []float64) float64 {
	nn := nonNull(v)
	if len(nn) == 0 {
		return nan
	}
	return sum(nn)
}

func safeAvg(v []float64) float64 {
	nn := nonNull(v)
	if len(nn) == 0 {
		return nan
	}
	return sum(nn) / float64(len(nn))
}

func safeMin(v []float64) float64 {
	nn := nonNull(v)
	if len(nn) == 0 {
		return nan
	}
	m := nn[0]
	for _, x := range nn[1:] {
		if x < m {
			m = x
		}
	}
	return m
}

func safeMax(v []float64) float64 {
	nn := nonNull(v)
	if len(nn) == 0 {
		return nan
	}
	m := nn[0]
	for _, x := range nn[1:] {
		if x > m {
			m = x
		}
	}
	return m
}

func safeLast(v []float64) float64 {
	for i := len(v) - 1; i >= 0; i-- {
		if !isNull(v[i]) {
			return v[i]
		}
	}
	return nan
}

func safeMedian(v []float64) float64 {
	nn := nonNull(v)
	if len(nn) == 0 {
		return nan
	}
	sort.Float64s(nn)
	mid := len(nn) / 2
	if len(nn)%2 == 0 {
		return (nn[mid-1] + nn[mid]) / 2
	}
	return nn[mid]
}

func safeStdDev(v []float64) float64 {
	nn := nonNull(v)
	if len(nn) == 0 {
		return nan
	}
	avg := sum(nn) / float64(len(nn))
	s := 0.0
	for _, x := range nn {
		s += (x - avg) * (x - avg)
	}
	return math.Sqrt(s / float64(len(nn)))
}

func safeDiv(a, b float64) float64 {
	if isNull(a) || isNull(b) || b == 0 {
		return nan
	}
	return a / b
}

func safeMul(a, b float64) float64 {
	if isNull(a) || isNull(b) {
		return nan
	}
	return a * b
}

// safePow is Python's math.pow with errors as null.
func safePow(a, b float64) float64 {
	if isNull(a) || isNull(b) {
		return nan
	}
	if a == 0 && b < 0 {
		return nan // ValueError
	}
	if a < 0 && b != math.Trunc(b) {
		return nan // ValueError
	}
	r := math.Pow(a, b)
	if math.IsInf(r, 0) && !math.IsInf(a, 0) && !math.IsInf(b, 0) {
		return nan // OverflowError
	}
	return r
}

// pyRound is Python's round(x, n): the decimal nearest the exact value.
func pyRound(x float64, n int) float64 {
	if isNull(x) || math.IsInf(x, 0) {
		return x
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', n, 64), 64)
	if err != nil {
		return x
	}
	return r
}

// formatPathExpressions joins the distinct path expressions in order.
func formatPathExpressions(series []*Series) string {
	var seen []string
	for _, s := range series {
		found := false
		for _, p := range seen {
			if p == s.PathExpression {
				found = true
				break
			}
		}
		if !found {
			seen = append(seen, s.PathExpression)
		}
	}
	return strings.Join(seen, ",")
}

// eachSeries applies a value transform in place and renames, the shape
// of most of graphite-web's Transform functions.
func eachSeries(list []*Series, name func(s *Series) string, tag, tagVal string, f func(v float64) float64) []*Series {
	for _, s := range list {
		if tag != "" {
			s.Tags[tag] = tagVal
		}
		s.rename(name(s))
		for i, v := range s.Values {
			s.Values[i] = f(v)
		}
	}
	return list
}
