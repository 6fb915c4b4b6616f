package graphite

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/canopy-dev/canopy/daemon/timespec"
)

// ParamType is a parameter type as graphite-web's /functions names it.
type ParamType string

// Parameter types.
const (
	TBoolean       ParamType = "boolean"
	TFloat         ParamType = "float"
	TInteger       ParamType = "integer"
	TInterval      ParamType = "interval"
	TIntOrInterval ParamType = "intOrInterval"
	TIntOrInf      ParamType = "intOrInf"
	TNode          ParamType = "node"
	TNodeOrTag     ParamType = "nodeOrTag"
	TSeriesList    ParamType = "seriesList"
	TSeriesLists   ParamType = "seriesLists"
	TString        ParamType = "string"
	TAggFunc       ParamType = "aggFunc"
	// TAggOrSeriesFunc: an aggregation function or an aggregating series
	// function's name (groupByNode's callback).
	TAggOrSeriesFunc ParamType = "aggOrSeriesFunc"
	TAny             ParamType = "any"
)

// Param is one parameter of a function.
type Param struct {
	Name     string
	Type     ParamType
	Required bool
	Default  any
	Multiple bool
	Options  []string
}

// Func is one Graphite function.
type Func struct {
	Name        string
	Group       string
	Description string
	Params      []Param
	// Aggregator: usable as an aggregation function by name.
	Aggregator bool
	fn         func(ec *evalContext, c *call) (any, error)
}

// aggFuncs are graphite-web's aggregation function names.
var aggFuncNames = []string{"average", "avg_zero", "median", "sum", "min", "max", "diff", "stddev", "count",
	"range", "multiply", "last", "rangeOf", "avg", "total", "current"}

// AggFuncNames are the aggregation function names, sorted (the options
// of an aggFunc parameter).
func AggFuncNames() []string {
	out := append([]string(nil), aggFuncNames...)
	sort.Strings(out)
	return out
}

func (p Param) options() []string {
	opts := p.Options
	if p.Type == TAggFunc || p.Type == TAggOrSeriesFunc {
		opts = append(append([]string(nil), opts...), aggFuncNames...)
	}
	if len(opts) == 0 {
		return nil
	}
	out := append([]string(nil), opts...)
	sort.Strings(out)
	return out
}

// pyRepr writes an argument as Python's repr does in error messages.
func pyRepr(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + v + "'"
	case []*Series:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = fmt.Sprintf("TimeSeries(name=%s, start=%d, end=%d, step=%d, valuesPerPoint=%d, consolidationFunc=%s, xFilesFactor=%s)",
				s.Name, s.Start, s.End, s.Step, s.ValuesPerPoint, s.ConsolidationFunc, pyFloat(s.XFilesFactor))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return pyNum(v)
}

// check validates one value against the parameter, as graphite-web's
// Param.validateValue does, and returns it converted.
func (p Param) check(fn string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if opts := p.options(); len(opts) > 0 {
		s, isStr := v.(string)
		ok := false
		for _, o := range opts {
			if isStr && s == o {
				ok = true
			}
		}
		if !ok {
			return nil, inputErrorf(`Invalid option specified for function "%s" parameter "%s": %s`, fn, p.Name, pyRepr(v))
		}
	}
	bad := func() (any, error) {
		return nil, inputErrorf(`Invalid "%s" value specified for function "%s" parameter "%s": %s`, p.Type, fn, p.Name, pyRepr(v))
	}
	switch p.Type {
	case TBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(x) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
			return bad()
		case int64, float64:
			switch toFloat(x) {
			case 0:
				return false, nil
			case 1:
				return true, nil
			}
			return bad()
		}
		return bad()
	case TFloat:
		switch x := v.(type) {
		case int64, float64, bool:
			return toFloat(x), nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return bad()
			}
			return f, nil
		}
		return bad()
	case TInteger, TNode:
		switch x := v.(type) {
		case int64:
			return x, nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return bad()
			}
			return n, nil
		}
		return bad()
	case TIntOrInf:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if math.IsInf(x, 1) {
				return x, nil
			}
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
			if f, err := strconv.ParseFloat(x, 64); err == nil && math.IsInf(f, 1) {
				return f, nil
			}
		}
		return nil, inputErrorf(`Invalid "%s" value specified for function "%s" parameter "%s": %s`, p.Type, fn, p.Name, pyRepr(v))
	case TInterval:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if _, err := timespec.ParseOffset(s); err != nil {
			return bad()
		}
		return s, nil
	case TSeriesList:
		if _, ok := v.([]*Series); !ok {
			return bad()
		}
		return v, nil
	}
	return v, nil
}

// validate matches args and keyword args to the parameters as
// graphite-web's validateParams does; vals[i] is parameter i's value.
func (f *Func) validate(args []any, kw map[string]any) ([]any, error) {
	ps := f.Params
	vals := make([]any, len(ps))
	if len(args)+len(kw) > len(ps) && (len(ps) == 0 || !ps[len(ps)-1].Multiple) {
		return nil, inputErrorf(`Too many parameters specified for function "%s"`, f.Name)
	}
	for i, a := range args {
		pi := min(i, len(ps)-1)
		p := ps[pi]
		v, err := p.check(f.Name, a)
		if err != nil {
			return nil, err
		}
		if p.Multiple {
			m, _ := vals[pi].([]any)
			vals[pi] = append(m, v)
			continue
		}
		vals[pi] = v
	}
	used := 0
	for i := len(args); i < len(ps); i++ {
		p := ps[i]
		v, ok := kw[p.Name]
		if !ok || v == nil {
			if p.Required {
				return nil, inputErrorf(`Missing required parameter "%s" for function "%s"`, p.Name, f.Name)
			}
			continue
		}
		used++
		cv, err := p.check(f.Name, v)
		if err != nil {
			return nil, err
		}
		if p.Multiple {
			vals[i] = []any{cv}
			continue
		}
		vals[i] = cv
	}
	if len(kw) > used {
		var extra []string
		for k := range kw {
			known := false
			for i := len(args); i < len(ps); i++ {
				if ps[i].Name == k {
					known = true
				}
			}
			if !known {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		return nil, inputErrorf("Unexpected key word arguments: %s", strings.Join(extra, ", "))
	}
	// A required parameter given neither way (graphite-web lets Python
	// raise a TypeError; a 400 naming it is more useful).
	for i, p := range ps {
		if p.Required && vals[i] == nil && i < len(args) {
			return nil, inputErrorf(`Missing required parameter "%s" for function "%s"`, p.Name, f.Name)
		}
	}
	return vals, nil
}
