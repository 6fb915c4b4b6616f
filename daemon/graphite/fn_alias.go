package graphite

import (
	"fmt"
	"math"
	"regexp"
	"strings"
)

func addAlias(add func(*Func)) {
	add(&Func{Name: "alias", Group: "Alias", Description: "Names every series newName.",
		Params: []Param{sl("seriesList"), req("newName", TString)},
		fn: func(ec *evalContext, c *call) (any, error) {
			for _, s := range c.series(0) {
				s.Name = c.str(1, "")
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "aliasByNode", Group: "Alias", Description: "Names each series by some nodes of its path (or tags).",
		Params: []Param{sl("seriesList"), many("nodes", TNodeOrTag, true)},
		fn: func(ec *evalContext, c *call) (any, error) {
			for _, s := range c.series(0) {
				s.Name = aggKey(s, c.multi(1))
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "aliasByMetric", Group: "Alias", Description: "Names each series by the last node of its path.",
		Params: []Param{sl("seriesList")},
		fn: func(ec *evalContext, c *call) (any, error) {
			for _, s := range c.series(0) {
				s.Name = substr(s.Name, -1, 0)
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "aliasSub", Group: "Alias", Description: "Renames each series with a regular expression replace (\\1 for groups).",
		Params: []Param{sl("seriesList"), req("search", TString), req("replace", TString)},
		fn: func(ec *evalContext, c *call) (any, error) {
			rx, err := regexp.Compile(c.str(1, ""))
			if err != nil {
				return nil, inputErrorf(`Invalid "string" value specified for function "aliasSub" parameter "search": %s`, pyRepr(c.str(1, "")))
			}
			repl := pyReplacement(c.str(2, ""))
			for _, s := range c.series(0) {
				s.Name = rx.ReplaceAllString(s.Name, repl)
			}
			return c.series(0), nil
		}})
	add(&Func{Name: "legendValue", Group: "Alias", Description: "Appends values (avg, total, min, max, last...) to each series' name.",
		Params: []Param{sl("seriesList"), {Name: "valuesTypes", Type: TString, Multiple: true,
			Options: append(append(append([]string(nil), aggFuncNames...), aggregatorNamesPlain()...), "si", "binary")}},
		fn: legendValue})
	add(&Func{Name: "cactiStyle", Group: "Special", Description: "Appends Current, Max and Min to each series' name, in aligned columns.",
		Params: []Param{sl("seriesList"), {Name: "system", Type: TString, Options: []string{"si", "binary"}}, opt("units", TString, nil)},
		fn:     cactiStyle})
}

func aggregatorNamesPlain() []string {
	var out []string
	for _, n := range aggFuncNames {
		out = append(out, n+"Series")
	}
	return out
}

// substr is graphite-web's substr over a name: the nodes [start:stop] of
// the innermost path, arguments after it dropped.
func substr(name string, start, stop int) string {
	left := strings.LastIndexByte(name, '(') + 1
	right := strings.IndexByte(name, ')')
	if right < 0 {
		right = len(name) + 1
	}
	clean := ""
	if right > left {
		clean = name[left:min(right, len(name))]
	}
	nodes := strings.Split(clean, ".")
	lo := pyIndex(start, len(nodes))
	hi := len(nodes)
	if stop != 0 {
		hi = pyIndex(stop, len(nodes))
	}
	out := ""
	if hi > lo {
		out = strings.Join(nodes[lo:hi], ".")
	}
	if i := strings.IndexByte(out, ','); i >= 0 {
		out = out[:i]
	}
	return out
}

func pyIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// pyReplacement turns Python's \1 and \g<1> into Go's ${1}.
func pyReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' && j < i+3 {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
		case c == '\\' && strings.HasPrefix(s[i:], `\g<`):
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteString("${" + s[i+3:i+end] + "}")
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var unitSystems = map[string][]struct {
	prefix string
	size   float64
}{
	"binary": {{"Pi", math.Pow(1024, 5)}, {"Ti", math.Pow(1024, 4)}, {"Gi", math.Pow(1024, 3)}, {"Mi", 1024 * 1024}, {"Ki", 1024}},
	"si":     {{"P", 1e15}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"k", 1e3}},
}

// formatUnits is graphite-web's format_units without a step.
func formatUnits(v float64, system, units string) (float64, string) {
	for _, u := range unitSystems[system] {
		if math.Abs(v) >= u.size {
			v2 := v / u.size
			if v2-math.Floor(v2) < 1e-11 && v > 1 {
				v2 = math.Floor(v2)
			}
			return v2, u.prefix + units
		}
	}
	if v-math.Floor(v) < 1e-11 && v > 1 {
		v = math.Floor(v)
	}
	return v, units
}

func legendValue(ec *evalContext, c *call) (any, error) {
	var types []string
	for _, v := range c.multi(1) {
		types = append(types, pyNum(v))
	}
	system := ""
	if n := len(types); n > 0 && (types[n-1] == "si" || types[n-1] == "binary") {
		system, types = types[n-1], types[:n-1]
	}
	for _, t := range types {
		f, ok := aggFunc(t)
		for _, s := range c.series(0) {
			text := "(?)"
			v := nan
			if ok {
				v = f(s.Points())
				text = pyStr(v)
			}
			if system == "" {
				s.Name += fmt.Sprintf(" (%s: %s)", t, text)
				continue
			}
			formatted := "None"
			if !ok {
				formatted = text
			} else if !isNull(v) {
				x, p := formatUnits(v, system, "")
				formatted = fmt.Sprintf("%.2f%s", x, p)
			}
			s.Name = fmt.Sprintf("%-20s%-5s%-10s", s.Name, t, formatted)
		}
	}
	return c.series(0), nil
}

// pyStr is str() of an aggregate: None for null.
func pyStr(v float64) string {
	if isNull(v) {
		return "None"
	}
	return pyFloat(v)
}

func cactiStyle(ec *evalContext, c *call) (any, error) {
	list := c.series(0)
	if len(list) == 0 {
		return list, nil
	}
	system, units := c.str(1, ""), c.str(2, "")
	fmtv := func(x float64) string {
		switch {
		case system != "" && units != "":
			v, p := formatUnits(x, system, units)
			return fmt.Sprintf("%.2f %s", v, p)
		case system != "":
			v, p := formatUnits(x, system, "")
			return fmt.Sprintf("%.2f%s", v, p)
		case units != "":
			return fmt.Sprintf("%.2f %s", x, units)
		}
		return fmt.Sprintf("%.2f", x)
	}
	// Python's int(x or 3): a null or zero aggregate counts as 3.
	orThree := func(v float64) float64 {
		if isNull(v) || v == 0 {
			return 3
		}
		return math.Trunc(v)
	}
	nameLen, lastLen, maxLen, minLen := 0, 0, 0, 0
	for _, s := range list {
		p := s.Points()
		nameLen = max(nameLen, len(s.Name))
		lastLen = max(lastLen, len(fmtv(orThree(safeLast(p)))))
		maxLen = max(maxLen, len(fmtv(orThree(safeMax(p)))))
		minLen = max(minLen, len(fmtv(orThree(safeMin(p)))))
	}
	lastLen, maxLen, minLen = lastLen+3, maxLen+3, minLen+3
	for _, s := range list {
		p := s.Points()
		f := func(v float64) string {
			if isNull(v) {
				return "nan"
			}
			return fmtv(v)
		}
		s.Name = fmt.Sprintf("%-*s Current:%-*s Max:%-*s Min:%-*s ", nameLen, s.Name, lastLen, f(safeLast(p)), maxLen, f(safeMax(p)), minLen, f(safeMin(p)))
	}
	return list, nil
}
