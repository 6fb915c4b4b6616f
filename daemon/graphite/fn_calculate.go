package graphite

import (
	"fmt"
	"sort"
	"strings"
)

func addCalculate(add func(*Func)) {
	for _, m := range []struct{ name, fn string }{
		{"movingAverage", "average"}, {"movingMedian", "median"}, {"movingSum", "sum"},
		{"movingMin", "min"}, {"movingMax", "max"},
	} {
		fn := m.fn
		add(&Func{Name: m.name, Group: "Calculate",
			Description: "The " + fn + " of the windowSize points (or the time, like '5min') before each point.",
			Params:      []Param{sl("seriesList"), req("windowSize", TIntOrInterval), opt("xFilesFactor", TFloat, nil)},
			fn: func(ec *evalContext, c *call) (any, error) {
				return movingWindow(ec, c, fn, c.float(2, nan))
			}})
	}
	add(&Func{Name: "nPercentile", Group: "Calculate", Description: "A flat line at the n-th percentile of each series.",
		Params: []Param{sl("seriesList"), req("n", TFloat)},
		fn: func(ec *evalContext, c *call) (any, error) {
			n := c.float(1, 0)
			if n == 0 {
				return nil, inputErrorf("The requested percent is required to be greater than 0")
			}
			out := []*Series{}
			for _, s := range c.series(0) {
				vals := nonNull(s.Points())
				if len(vals) == 0 {
					continue
				}
				sort.Float64s(vals)
				p := percentile(vals, n, false)
				if isNull(p) {
					continue
				}
				s.Tags["nPercentile"] = pyFloat(n)
				cp := s.copy(fmt.Sprintf("nPercentile(%s, %s)", s.Name, pyG(n)))
				cnt := int((s.End - s.Start) / s.Step)
				cp.Values = make([]float64, cnt)
				for i := range cp.Values {
					cp.Values[i] = p
				}
				cp.ValuesPerPoint = 1
				out = append(out, cp)
			}
			return out, nil
		}})
}

func movingWindow(ec *evalContext, c *call, fn string, xff float64) (any, error) {
	list := c.series(0)
	if len(list) == 0 {
		return []*Series{}, nil
	}
	f, _ := aggFunc(fn)
	var preview int64
	ws := c.vals[1]
	wsString, isString := ws.(string)
	if isString {
		d, err := intervalSeconds(wsString)
		if err != nil {
			return nil, inputErrorf(`Invalid "intOrInterval" value specified for function "%s" parameter "windowSize": '%s'`, c.name, wsString)
		}
		preview = max(d, -d)
	} else {
		var n int64
		switch v := ws.(type) {
		case int64:
			n = v
		case float64:
			n = int64(v)
		default:
			return nil, inputErrorf(`Invalid "intOrInterval" value specified for function "%s" parameter "windowSize": %s`, c.name, pyRepr(ws))
		}
		step := int64(0)
		for _, s := range list {
			step = max(step, s.Step)
		}
		preview = step * n
	}
	tag := "moving" + strings.ToUpper(fn[:1]) + fn[1:]
	previewList, err := ec.with(ec.from-preview, ec.until).evalSeries(c.expr.Args[0])
	if err != nil {
		return nil, err
	}
	out := []*Series{}
	for _, s := range previewList {
		var name string
		var points int
		if isString {
			name = fmt.Sprintf(`%s(%s,"%s")`, tag, s.Name, wsString)
			points = int(preview / s.Step)
		} else {
			name = fmt.Sprintf("%s(%s,%s)", tag, s.Name, pyNum(ws))
			points = int(toFloat(ws))
		}
		s.Tags[tag] = pyNum(ws)
		eff := xff
		if isNull(eff) {
			eff = s.XFilesFactor
		}
		pts := s.Points()
		var vals []float64
		for i := points; i < len(pts); i++ {
			win := nonNull(pts[max(0, i-points):i])
			if len(win) > 0 && xffOK(len(win), points, eff) {
				vals = append(vals, f(win))
			} else {
				vals = append(vals, nan)
			}
		}
		n := s.copy(name)
		n.Start = s.Start + preview
		n.Values, n.ValuesPerPoint = vals, 1
		out = append(out, n)
	}
	return out, nil
}
