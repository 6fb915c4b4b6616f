package graphite

import (
	"fmt"
)

func addGraph(add func(*Func)) {
	add(&Func{Name: "constantLine", Group: "Special", Description: "A flat line at value over the whole range.",
		Params: []Param{req("value", TFloat)},
		fn: func(ec *evalContext, c *call) (any, error) {
			return []*Series{constantLine(ec, c.float(0, 0))}, nil
		}})
	add(&Func{Name: "threshold", Group: "Graph", Description: "A flat line at value, with a label and a color.",
		Params: []Param{req("value", TFloat), opt("label", TString, nil), opt("color", TString, nil)},
		fn: func(ec *evalContext, c *call) (any, error) {
			s := constantLine(ec, c.float(0, 0))
			if l := c.str(1, ""); l != "" {
				s.Name = l
			}
			s.Color = c.str(2, "")
			return []*Series{s}, nil
		}})
	add(&Func{Name: "color", Group: "Graph", Description: "Draws the series in theColor (a name or hex RGB).",
		Params: []Param{sl("seriesList"), req("theColor", TString)},
		fn: func(ec *evalContext, c *call) (any, error) {
			for _, s := range c.series(0) {
				s.Color = c.str(1, "")
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "lineWidth", Group: "Graph", Description: "Draws the series with lines width pixels wide.",
		Params: []Param{sl("seriesList"), req("width", TFloat)},
		fn: func(ec *evalContext, c *call) (any, error) {
			for _, s := range c.series(0) {
				s.LineWidth = c.float(1, 1)
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "dashed", Group: "Graph", Description: "Draws the series dashed.",
		Params: []Param{sl("seriesList"), opt("dashLength", TInteger, int64(5))},
		fn: func(ec *evalContext, c *call) (any, error) {
			d := c.int(1, 5)
			for _, s := range c.series(0) {
				s.Tags["dashed"] = fmt.Sprint(d)
				s.Name = fmt.Sprintf("dashed(%s, %d)", s.Name, d)
				s.Dashed = float64(d)
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "stacked", Group: "Graph", Description: "Stacks the series on each other (running sum across series).",
		Params: []Param{sl("seriesList"), opt("stack", TString, nil)},
		fn: func(ec *evalContext, c *call) (any, error) {
			stack := c.str(1, "__DEFAULT__")
			total := ec.stacks[stack]
			out := []*Series{}
			for _, s := range c.series(0) {
				pts := s.Points()
				vals := make([]float64, len(pts))
				for i, v := range pts {
					if len(total) <= i {
						total = append(total, 0)
					}
					if isNull(v) {
						vals[i] = nan
						continue
					}
					total[i] += v
					vals[i] = total[i]
				}
				name := s.Name
				if stack == "__DEFAULT__" {
					s.Tags["stacked"] = stack
					name = "stacked(" + s.Name + ")"
				}
				n := s.copy(name)
				n.Values, n.ValuesPerPoint, n.Stacked = vals, 1, true
				out = append(out, n)
			}
			ec.stacks[stack] = total
			return out, nil
		}})
}

// constantLine is graphite-web's: three points over [from, until], named
// by the value.
func constantLine(ec *evalContext, v float64) *Series {
	step := (ec.until - ec.from) / 2
	s := newSeries(pyFloat(v), ec.from, ec.until, step, []float64{v, v, v}, ec.xff)
	s.PathExpression = "constantLine(" + pyFloat(v) + ")"
	return s
}
