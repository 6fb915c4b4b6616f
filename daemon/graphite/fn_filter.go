package graphite

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// keyed is graphite-web's keyFunc: a series' aggregate, null sorting
// lowest.
func keyed(f func([]float64) float64, s *Series) float64 {
	v := f(s.Points())
	if isNull(v) {
		return -inf
	}
	return v
}

func addFilter(add func(*Func)) {
	top := func(name, fn string, highest bool) {
		add(&Func{Name: name, Group: "Filter Series",
			Description: fmt.Sprintf("The n series with the %s %s.", map[bool]string{true: "highest", false: "lowest"}[highest], fn),
			Params:      []Param{sl("seriesList"), req("n", TInteger)},
			fn: func(ec *evalContext, c *call) (any, error) {
				f, _ := aggFunc(fn)
				list := c.series(0)
				sort.SliceStable(list, func(i, j int) bool {
					a, b := keyed(f, list[i]), keyed(f, list[j])
					if highest {
						return a > b
					}
					return a < b
				})
				n := int(c.int(1, 1))
				if n < 0 {
					n = max(0, len(list)+n)
				}
				return list[:min(n, len(list))], nil
			}})
	}
	top("highestCurrent", "current", true)
	top("highestMax", "max", true)
	top("highestAverage", "average", true)
	top("lowestCurrent", "current", false)
	top("lowestAverage", "average", false)
	filter := func(name, fn string, above bool) {
		add(&Func{Name: name, Group: "Filter Series",
			Description: fmt.Sprintf("The series whose %s is %s n.", fn, map[bool]string{true: "above", false: "at or below"}[above]),
			Params:      []Param{sl("seriesList"), req("n", TFloat)},
			fn: func(ec *evalContext, c *call) (any, error) {
				f, _ := aggFunc(fn)
				n := c.float(1, 0)
				out := []*Series{}
				for _, s := range c.series(0) {
					v := f(s.Points())
					if (above && v > n) || (!above && v <= n) {
						out = append(out, s)
					}
				}
				return out, nil
			}})
	}
	filter("currentAbove", "last", true)
	filter("currentBelow", "last", false)
	filter("averageAbove", "average", true)
	filter("maximumAbove", "max", true)
	add(&Func{Name: "removeBelowValue", Group: "Filter Data", Description: "Nulls the values below n.",
		Params: []Param{sl("seriesList"), req("n", TFloat)},
		fn: func(ec *evalContext, c *call) (any, error) {
			n := c.float(1, 0)
			for _, s := range c.series(0) {
				s.rename(fmt.Sprintf("removeBelowValue(%s, %s)", s.Name, pyG(n)))
				for i, v := range s.Values {
					if isNull(v) || v < n {
						s.Values[i] = nan
					}
				}
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "removeAboveValue", Group: "Filter Data", Description: "Nulls the values above n.",
		Params: []Param{sl("seriesList"), req("n", TFloat)},
		fn: func(ec *evalContext, c *call) (any, error) {
			n := c.float(1, 0)
			for _, s := range c.series(0) {
				s.rename(fmt.Sprintf("removeAboveValue(%s, %s)", s.Name, pyG(n)))
				for i, v := range s.Values {
					if !isNull(v) && v > n {
						s.Values[i] = nan
					}
				}
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "limit", Group: "Filter Series", Description: "The first n series.",
		Params: []Param{sl("seriesList"), req("n", TInteger)},
		fn: func(ec *evalContext, c *call) (any, error) {
			list := c.series(0)
			n := int(c.int(1, 0))
			if n < 0 {
				n = max(0, len(list)+n)
			}
			return list[:min(n, len(list))], nil
		}})
	add(&Func{Name: "sortByName", Group: "Sorting", Description: "Sorts by name (natural: numbers by value).",
		Params: []Param{sl("seriesList"), opt("natural", TBoolean, false), opt("reverse", TBoolean, false)},
		fn: func(ec *evalContext, c *call) (any, error) {
			list := c.series(0)
			key := func(s *Series) string { return s.Name }
			if c.bool(1, false) {
				digits := regexp.MustCompile(`\d+`)
				key = func(s *Series) string {
					return digits.ReplaceAllStringFunc(s.Name, func(d string) string {
						d = strings.TrimLeft(d, "0")
						if len(d) < 10 {
							d = strings.Repeat("0", 10-len(d)) + d
						}
						return d
					})
				}
			}
			rev := c.bool(2, false)
			sort.SliceStable(list, func(i, j int) bool {
				if rev {
					return key(list[i]) > key(list[j])
				}
				return key(list[i]) < key(list[j])
			})
			return list, nil
		}})
	sortBy := func(name, fn, desc string) {
		add(&Func{Name: name, Group: "Sorting", Description: desc, Params: []Param{sl("seriesList")},
			fn: func(ec *evalContext, c *call) (any, error) {
				f, _ := aggFunc(fn)
				list := c.series(0)
				sort.SliceStable(list, func(i, j int) bool { return keyed(f, list[i]) > keyed(f, list[j]) })
				return list, nil
			}})
	}
	sortBy("sortByMaxima", "max", "Sorts by the highest value, highest first.")
	sortBy("sortByTotal", "sum", "Sorts by the sum of the values, highest first.")
	re := func(name string, keep bool) {
		add(&Func{Name: name, Group: "Filter Series",
			Description: map[bool]string{true: "Keeps the series whose name matches the regular expression.", false: "Drops the series whose name matches the regular expression."}[keep],
			Params:      []Param{sl("seriesList"), req("pattern", TString)},
			fn: func(ec *evalContext, c *call) (any, error) {
				rx, err := regexp.Compile(c.str(1, ""))
				if err != nil {
					return nil, inputErrorf(`Invalid "string" value specified for function "%s" parameter "pattern": %s`, name, pyRepr(c.str(1, "")))
				}
				out := []*Series{}
				for _, s := range c.series(0) {
					if rx.MatchString(s.Name) == keep {
						out = append(out, s)
					}
				}
				return out, nil
			}})
	}
	re("exclude", false)
	re("grep", true)
}
