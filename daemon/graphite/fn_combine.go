package graphite

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

func addCombine(add func(*Func)) {
	for _, a := range []struct{ name, fn, desc string }{
		{"sumSeries", "sum", "Adds the series point by point."},
		{"averageSeries", "average", "Averages the series point by point."},
		{"minSeries", "min", "The lowest value of the series at each point."},
		{"maxSeries", "max", "The highest value of the series at each point."},
		{"diffSeries", "diff", "Subtracts the other series from the first, point by point."},
		{"stddevSeries", "stddev", "The standard deviation of the series at each point."},
	} {
		fn := a.fn
		add(&Func{Name: a.name, Group: "Combine", Description: a.desc, Aggregator: true,
			Params: []Param{many("seriesLists", TSeriesList, true)},
			fn: func(ec *evalContext, c *call) (any, error) {
				return aggregate(ec, seriesLists(c, 0), fn, nan)
			}})
	}
	add(&Func{Name: "multiplySeries", Group: "Combine", Aggregator: true,
		Description: "Multiplies the series point by point.",
		Params:      []Param{many("seriesLists", TSeriesList, true)},
		fn: func(ec *evalContext, c *call) (any, error) {
			lists := seriesLists(c, 0)
			if len(lists) == 1 && len(lists[0]) == 1 {
				return lists[0], nil
			}
			return aggregate(ec, lists, "multiply", nan)
		}})
	add(&Func{Name: "countSeries", Group: "Combine", Aggregator: true,
		Description: "The number of series, as a series.",
		Params:      []Param{many("seriesLists", TSeriesList, false)},
		fn: func(ec *evalContext, c *call) (any, error) {
			lists := seriesLists(c, 0)
			if len(lists) == 0 {
				s := constantLine(ec, 0)
				s.PathExpression = "countSeries()"
				return []*Series{s}, nil
			}
			all, start, end, step, ok := normalize(lists...)
			if !ok {
				return []*Series{}, nil
			}
			name := "countSeries(" + formatPathExpressions(all) + ")"
			rs := rows(all)
			vals := make([]float64, len(rs))
			for i, r := range rs {
				vals[i] = float64(len(r))
			}
			return []*Series{newSeries(name, start, end, step, vals, ec.xff)}, nil
		}})
	add(&Func{Name: "divideSeries", Group: "Combine",
		Description: "Divides each series by the one divisor series.",
		Params:      []Param{sl("dividendSeriesList"), sl("divisorSeries")},
		fn:          divideSeries})
	add(&Func{Name: "asPercent", Group: "Combine", Aggregator: true,
		Description: "Each series as a percent of a total (a number, a series, or the sum of the series).",
		Params:      []Param{sl("seriesList"), opt("total", TAny, nil), many("nodes", TNodeOrTag, false)},
		fn:          asPercent})
	add(&Func{Name: "percentileOfSeries", Group: "Combine",
		Description: "The n-th percentile of the series at each point.",
		Params:      []Param{sl("seriesList"), req("n", TFloat), opt("interpolate", TBoolean, false)},
		fn: func(ec *evalContext, c *call) (any, error) {
			list := c.series(0)
			n := c.float(1, 0)
			if n <= 0 {
				return nil, inputErrorf("The requested percent is required to be greater than 0")
			}
			if len(list) == 0 {
				return []*Series{}, nil
			}
			name := fmt.Sprintf("percentileOfSeries(%s,%s)", list[0].PathExpression, pyG(n))
			_, start, end, step, _ := normalize(list)
			rs := rows(list)
			vals := make([]float64, len(rs))
			for i, r := range rs {
				vals[i] = percentile(r, n, c.bool(2, false))
			}
			return []*Series{newSeries(name, start, end, step, vals, ec.xff)}, nil
		}})
	for _, a := range []struct{ name, fn string }{
		{"sumSeriesWithWildcards", "sum"}, {"averageSeriesWithWildcards", "average"},
	} {
		fn := a.fn
		add(&Func{Name: a.name, Group: "Combine", Aggregator: true,
			Description: "Aggregates the series whose names are the same but for the given nodes.",
			Params:      []Param{sl("seriesList"), many("position", TNode, false)},
			fn: func(ec *evalContext, c *call) (any, error) {
				pos := map[int64]bool{}
				for _, p := range c.multi(1) {
					pos[p.(int64)] = true
				}
				var keys []string
				groups := map[string][]*Series{}
				for _, s := range c.series(0) {
					var parts []string
					for i, n := range strings.Split(s.Name, ".") {
						if !pos[int64(i)] {
							parts = append(parts, n)
						}
					}
					key := strings.Join(parts, ".")
					if _, ok := groups[key]; !ok {
						keys = append(keys, key)
					}
					groups[key] = append(groups[key], s)
				}
				out := []*Series{}
				for _, k := range keys {
					r, err := aggregate(ec, [][]*Series{groups[k]}, fn, nan)
					if err != nil {
						return nil, err
					}
					r[0].Name = k
					out = append(out, r[0])
				}
				return out, nil
			}})
	}
	add(&Func{Name: "groupByNode", Group: "Combine",
		Description: "Groups the series by one node of their names and aggregates each group.",
		Params: []Param{sl("seriesList"), req("nodeNum", TNodeOrTag),
			{Name: "callback", Type: TAggOrSeriesFunc, Default: "average", Options: aggregatorNames()}},
		fn: func(ec *evalContext, c *call) (any, error) {
			return groupByNodes(ec, c.series(0), c.str(2, "average"), []any{c.vals[1]})
		}})
	add(&Func{Name: "groupByNodes", Group: "Combine",
		Description: "Groups the series by some nodes of their names and aggregates each group.",
		Params: []Param{sl("seriesList"), {Name: "callback", Type: TAggOrSeriesFunc, Required: true, Options: aggregatorNames()},
			many("nodes", TNodeOrTag, false)},
		fn: func(ec *evalContext, c *call) (any, error) {
			return groupByNodes(ec, c.series(0), c.str(1, ""), c.multi(2))
		}})
}

// aggregatorNames are the callbacks groupByNode accepts besides the
// aggregation functions: the aggregating series functions by name.
func aggregatorNames() []string {
	var out []string
	for _, n := range aggFuncNames {
		out = append(out, n+"Series")
	}
	return append(out, "sumSeriesWithWildcards", "averageSeriesWithWildcards", "asPercent", "countSeries", "diffSeries", "multiplySeries")
}

// aggregate is graphite-web's aggregate(): one series combining the
// lists point by point with fn, null where fewer than xFilesFactor of
// the values are there.
func aggregate(ec *evalContext, lists [][]*Series, fn string, xff float64) ([]*Series, error) {
	f, ok := aggFunc(fn)
	if !ok {
		return nil, inputErrorf("Unsupported aggregation function: %s", fn)
	}
	fn = strings.TrimSuffix(fn, "Series")
	all, start, end, step, ok := normalize(lists...)
	if !ok {
		return []*Series{}, nil
	}
	if isNull(xff) {
		xff = ec.xff
	}
	name := fn + "Series(" + formatPathExpressions(all) + ")"
	rs := rows(all)
	vals := make([]float64, len(rs))
	for i, r := range rs {
		if xffOK(len(nonNull(r)), len(r), xff) {
			vals[i] = f(r)
		} else {
			vals[i] = nan
		}
	}
	tags := map[string]string{}
	for k, v := range all[0].Tags {
		tags[k] = v
	}
	for _, s := range all[1:] {
		for k, v := range tags {
			if s.Tags[k] != v {
				delete(tags, k)
			}
		}
	}
	if _, ok := tags["name"]; !ok {
		tags["name"] = name
	}
	tags["aggregatedBy"] = fn
	s := newSeries(name, start, end, step, vals, xff)
	s.Tags = tags
	return []*Series{s}, nil
}

func divideSeries(ec *evalContext, c *call) (any, error) {
	list, div := c.series(0), c.series(1)
	if len(div) == 0 {
		for _, s := range list {
			s.rename(fmt.Sprintf("divideSeries(%s,MISSING)", s.Name))
			for i := range s.Values {
				s.Values[i] = nan
			}
		}
		return list, nil
	}
	if len(div) > 1 {
		return nil, inputErrorf("divideSeries second argument must reference exactly 1 series (got %d)", len(div))
	}
	d := div[0]
	out := []*Series{}
	for _, s := range list {
		name := fmt.Sprintf("divideSeries(%s,%s)", s.Name, d.Name)
		_, start, end, step, _ := normalize([]*Series{s, d})
		rs := rows([]*Series{s, d})
		vals := make([]float64, len(rs))
		for i, r := range rs {
			vals[i] = safeDiv(r[0], r[1])
		}
		out = append(out, newSeries(name, start, end, step, vals, ec.xff))
	}
	return out, nil
}

// getNodeOrTag is graphite-web's: node n of the name (before any tags;
// negative counts from the end), else the tag n.
func getNodeOrTag(s *Series, n any, pathExpression string) string {
	name := s.Name
	if pathExpression != "" {
		name = pathExpression
	}
	var idx int64
	isInt := false
	switch v := n.(type) {
	case int64:
		idx, isInt = v, true
	case float64:
		if v == math.Trunc(v) {
			idx, isInt = int64(v), true
		}
	case string:
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			idx, isInt = i, true
		}
	}
	if isInt {
		base, _, _ := strings.Cut(name, ";")
		nodes := strings.Split(base, ".")
		if idx < 0 {
			idx += int64(len(nodes))
		}
		if idx >= 0 && idx < int64(len(nodes)) {
			return nodes[idx]
		}
	}
	return s.Tags[pyNum(n)]
}

// aggKey joins the nodes (or tags) of a series' name; for a name that is
// a function call, of the first path expression inside it.
func aggKey(s *Series, nodes []any) string {
	pe := ""
	if strings.HasSuffix(s.Name, ")") {
		pe = firstPathExpression(s.Name)
	}
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = getNodeOrTag(s, n, pe)
	}
	return strings.Join(parts, ".")
}

func firstPathExpression(name string) string {
	e, err := Parse(name)
	if err != nil {
		return ""
	}
	for e != nil {
		switch e.Kind {
		case KindPath:
			return e.Str
		case KindCall:
			if len(e.Args) == 0 {
				return ""
			}
			e = e.Args[0]
		default:
			return ""
		}
	}
	return ""
}

func groupByNodes(ec *evalContext, list []*Series, callback string, nodes []any) (any, error) {
	var keys []string
	groups := map[string][]*Series{}
	for _, s := range list {
		k := aggKey(s, nodes)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	out := []*Series{}
	for _, k := range keys {
		var r []*Series
		if f, ok := functions[callback]; ok {
			v, err := f.fn(ec, &call{name: callback, vals: append([]any{[]any{groups[k]}}, make([]any, len(f.Params)-1)...)})
			if err != nil {
				return nil, err
			}
			r, _ = v.([]*Series)
		} else {
			var err error
			if r, err = aggregate(ec, [][]*Series{groups[k]}, callback, nan); err != nil {
				return nil, err
			}
		}
		if len(r) == 0 {
			continue
		}
		r[0].Name = k
		out = append(out, r[0])
	}
	return out, nil
}

func asPercent(ec *evalContext, c *call) (any, error) {
	list := c.series(0)
	normalize(list)
	total := c.vals[1]
	nodes := c.multi(2)
	xff := ec.xff
	pct := func(a, b float64) float64 { return safeMul(safeDiv(a, b), 100) }
	sumOf := func(group []*Series) *Series {
		name := "sumSeries(" + formatPathExpressions(group) + ")"
		_, start, end, step, _ := normalize(group)
		rs := rows(group)
		vals := make([]float64, len(rs))
		for i, r := range rs {
			vals[i] = safeSum(r)
		}
		return newSeries(name, start, end, step, vals, xff)
	}
	pair := func(name string, a, b *Series) *Series {
		_, start, end, step, _ := normalize([]*Series{a, b})
		rs := rows([]*Series{a, b})
		vals := make([]float64, len(rs))
		for i, r := range rs {
			vals[i] = pct(r[0], r[1])
		}
		return newSeries(name, start, end, step, vals, xff)
	}
	if len(nodes) > 0 {
		var keys []string
		meta := map[string][]*Series{}
		for _, s := range list {
			k := aggKey(s, nodes)
			if _, ok := meta[k]; !ok {
				keys = append(keys, k)
			}
			meta[k] = append(meta[k], s)
		}
		totals := map[string]*Series{}
		switch t := total.(type) {
		case nil:
			for _, k := range keys {
				if len(meta[k]) == 1 {
					totals[k] = meta[k][0]
				} else {
					totals[k] = sumOf(meta[k])
				}
			}
		case []*Series:
			tg := map[string][]*Series{}
			for _, s := range t {
				k := aggKey(s, nodes)
				if _, ok := tg[k]; !ok {
					if _, seen := meta[k]; !seen {
						keys = append(keys, k)
					}
				}
				tg[k] = append(tg[k], s)
			}
			for k, g := range tg {
				if len(g) == 1 {
					totals[k] = g[0]
				} else {
					totals[k] = sumOf(g)
				}
			}
		default:
			return nil, inputErrorf("total must be None or a seriesList")
		}
		out := []*Series{}
		for _, k := range keys {
			ss, ok := meta[k]
			if !ok {
				t := totals[k]
				vals := make([]float64, len(t.Points()))
				for i := range vals {
					vals[i] = nan
				}
				out = append(out, newSeries(fmt.Sprintf("asPercent(MISSING,%s)", t.Name), t.Start, t.End, t.Step, vals, xff))
				continue
			}
			for _, s := range ss {
				t, ok := totals[k]
				if !ok {
					vals := make([]float64, len(s.Points()))
					for i := range vals {
						vals[i] = nan
					}
					out = append(out, newSeries(fmt.Sprintf("asPercent(%s,MISSING)", s.Name), s.Start, s.End, s.Step, vals, xff))
					continue
				}
				out = append(out, pair(fmt.Sprintf("asPercent(%s,%s)", s.Name, t.Name), s, t))
			}
		}
		return out, nil
	}
	var totalVals []float64
	var totalText string
	switch t := total.(type) {
	case nil:
		rs := rows(list)
		totalVals = make([]float64, len(rs))
		for i, r := range rs {
			totalVals[i] = safeSum(r)
		}
		totalText = "sumSeries(" + formatPathExpressions(list) + ")"
	case []*Series:
		if len(t) != 1 && len(t) != len(list) {
			return nil, inputErrorf("asPercent second argument must be missing, a single digit, reference exactly 1 series or reference the same number of series as the first argument")
		}
		if len(t) == len(list) {
			a := append([]*Series(nil), list...)
			b := append([]*Series(nil), t...)
			sort.SliceStable(a, func(i, j int) bool { return a[i].Name < a[j].Name })
			sort.SliceStable(b, func(i, j int) bool { return b[i].Name < b[j].Name })
			out := []*Series{}
			for i := range a {
				out = append(out, pair(fmt.Sprintf("asPercent(%s,%s)", a[i].Name, b[i].Name), a[i], b[i]))
			}
			return out, nil
		}
		normalize(list, t)
		totalVals = t[0].Points()
		totalText = t[0].Name
	case int64, float64:
		f := toFloat(t)
		if len(list) > 0 {
			totalVals = make([]float64, len(list[0].Points()))
			for i := range totalVals {
				totalVals[i] = f
			}
		}
		totalText = pyNum(t)
	default:
		return nil, inputErrorf(`Invalid "any" value specified for function "asPercent" parameter "total": %s`, pyRepr(total))
	}
	out := []*Series{}
	for _, s := range list {
		pts := s.Points()
		n := max(len(pts), len(totalVals))
		vals := make([]float64, n)
		for i := range n {
			a, b := nan, nan
			if i < len(pts) {
				a = pts[i]
			}
			if i < len(totalVals) {
				b = totalVals[i]
			}
			vals[i] = pct(a, b)
		}
		text := totalText
		if text == "" {
			text = s.PathExpression
		}
		out = append(out, newSeries(fmt.Sprintf("asPercent(%s,%s)", s.Name, text), s.Start, s.End, s.Step, vals, xff))
	}
	return out, nil
}

// percentile is graphite-web's _getPercentile.
func percentile(points []float64, n float64, interpolate bool) float64 {
	sorted := nonNull(points)
	if len(sorted) == 0 {
		return nan
	}
	sort.Float64s(sorted)
	frac := n / 100 * float64(len(sorted)+1)
	rank := int(frac)
	rankFrac := frac - float64(rank)
	if !interpolate {
		rank += int(math.Ceil(rankFrac))
	}
	var p float64
	switch {
	case rank == 0:
		p = sorted[0]
	case rank-1 >= len(sorted):
		p = sorted[len(sorted)-1]
	default:
		p = sorted[rank-1]
	}
	if interpolate && rank != len(sorted) && rank < len(sorted) {
		p += rankFrac * (sorted[rank] - p)
	}
	return p
}
