package graphite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Source is what the evaluator reads series from: canopy's trend store
// (FromTrend) or, in tests, Memory.
type Source interface {
	// Fetch returns the series whose names the path expression pattern
	// (globs *, ?, [..], {a,b} within a segment) selects, each with one
	// value per step over [from, until] aligned as whisper aligns them
	// (see Align), NaN where there is no value.
	Fetch(ctx context.Context, pattern string, from, until int64) ([]Fetched, error)
}

// Fetched is one series as a Source returns it.
type Fetched struct {
	Name        string
	Start, Step int64 // unix seconds
	Values      []float64
}

// Align returns the whisper slots that a read of [from, until] with this
// step covers: the first slot after from's, up to and including until's
// (graphite-web asks whisper; canopy's sources answer alike).
func Align(from, until, step int64) (start, end int64) {
	start = from - mod(from, step) + step
	end = until - mod(until, step) + step
	if start == end {
		end += step
	}
	return start, end
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// ErrBadRequest is in the chain of every error about what was asked
// (syntax, unknown function, a wrong argument), as opposed to a source
// that failed: the HTTP layer answers 400 for it.
var ErrBadRequest = errors.New("bad graphite request")

// InputError is graphite-web's InputParameterError: its text is the body
// of the 400 answer.
type InputError struct {
	Msg     string
	Targets []string
}

func (e *InputError) Error() string {
	s := "Invalid parameters (" + e.Msg + ")"
	if len(e.Targets) > 0 {
		s += `; targets: "` + strings.Join(e.Targets, ", ") + `"`
	}
	return s
}

// Is makes errors.Is(err, ErrBadRequest) true.
func (e *InputError) Is(target error) bool { return target == ErrBadRequest }

func inputErrorf(format string, a ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, a...)}
}

// Request is one render request's parameters.
type Request struct {
	Targets      []string
	From, Until  int64 // unix seconds
	Now          int64
	XFilesFactor float64
	Location     *time.Location // for summarize's alignment and CSV times (nil = UTC)
}

// Evaluator evaluates targets against a source.
type Evaluator struct {
	Src Source
}

type evalContext struct {
	ctx         context.Context
	src         Source
	from, until int64
	now         int64
	xff         float64
	loc         *time.Location
	// stacks are stacked()'s running totals by stack name, shared by the
	// targets of one request as graphite-web's requestContext does.
	stacks map[string][]float64
}

func (ec *evalContext) with(from, until int64) *evalContext {
	c := *ec
	c.from, c.until = from, until
	return &c
}

// Eval evaluates every target of r, in order.
func (e *Evaluator) Eval(ctx context.Context, r Request) ([]*Series, error) {
	if r.Until < r.From {
		r.From, r.Until = r.Until, r.From
	}
	if r.From == r.Until {
		return nil, &InputError{Msg: "Invalid empty time range", Targets: r.Targets}
	}
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	ec := &evalContext{ctx: ctx, src: e.Src, from: r.From, until: r.Until, now: r.Now, xff: r.XFilesFactor, loc: loc, stacks: map[string][]float64{}}
	var out []*Series
	for _, t := range r.Targets {
		if strings.TrimSpace(t) == "" {
			continue
		}
		expr, err := Parse(t)
		if err != nil {
			return nil, &InputError{Msg: err.Error(), Targets: r.Targets}
		}
		v, err := ec.eval(expr)
		if err != nil {
			var ie *InputError
			if errors.As(err, &ie) && ie.Targets == nil {
				ie.Targets = r.Targets
			}
			return nil, err
		}
		switch v := v.(type) {
		case []*Series:
			out = append(out, v...)
		case *Series:
			out = append(out, v)
		case nil:
		default:
			return nil, &InputError{Msg: fmt.Sprintf("target %q is not a series list", t), Targets: r.Targets}
		}
	}
	return out, nil
}

// maxSpan bounds the range one fetch reads (a window or shift far
// beyond any retention is a mistake, not a query).
const maxSpan = 20 * 366 * 86400

// fetch reads a path expression, its series sorted by name.
func (ec *evalContext) fetch(pattern string) ([]*Series, error) {
	if ec.until-ec.from > maxSpan || ec.from < 0 {
		return nil, inputErrorf("time range %d..%d: at most 20 years, after 1970", ec.from, ec.until)
	}
	// Whisper reads nothing after now, and nothing at all from a range
	// that starts later.
	if ec.from > ec.now {
		return []*Series{}, nil
	}
	got, err := ec.src.Fetch(ec.ctx, pattern, ec.from, min(ec.until, ec.now))
	if err != nil {
		return nil, err
	}
	out := make([]*Series, 0, len(got))
	for _, f := range got {
		s := newSeries(f.Name, f.Start, f.Start+int64(len(f.Values))*f.Step, f.Step, f.Values, ec.xff)
		s.PathExpression = pattern
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (ec *evalContext) eval(e *Expr) (any, error) {
	switch e.Kind {
	case KindPath:
		return ec.fetch(e.Str)
	case KindString:
		return e.Str, nil
	case KindNumber:
		if e.Int {
			return int64(e.Num), nil
		}
		return e.Num, nil
	case KindBool:
		return e.Bool, nil
	case KindNone:
		return nil, nil
	}
	f, ok := functions[e.Str]
	if !ok {
		return nil, inputErrorf("Received request for unknown function: %s", e.Str)
	}
	args := make([]any, len(e.Args))
	for i, a := range e.Args {
		v, err := ec.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	kw := make(map[string]any, len(e.Kw))
	for _, k := range e.Kw {
		v, err := ec.eval(k.Value)
		if err != nil {
			return nil, err
		}
		kw[k.Name] = v
	}
	vals, err := f.validate(args, kw)
	if err != nil {
		return nil, err
	}
	return f.fn(ec, &call{name: e.Str, expr: e, vals: vals})
}

// call is one function call's arguments after validation: vals[i] is the
// value of the function's i-th parameter (nil when not given; a
// multiple parameter holds []any).
type call struct {
	name string
	expr *Expr
	vals []any
}

func (c *call) has(i int) bool { return i < len(c.vals) && c.vals[i] != nil }

func (c *call) series(i int) []*Series {
	if !c.has(i) {
		return nil
	}
	s, _ := c.vals[i].([]*Series)
	return s
}

func (c *call) float(i int, def float64) float64 {
	if !c.has(i) {
		return def
	}
	return toFloat(c.vals[i])
}

func (c *call) int(i int, def int64) int64 {
	if !c.has(i) {
		return def
	}
	switch v := c.vals[i].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case bool:
		if v {
			return 1
		}
		return 0
	}
	return def
}

func (c *call) str(i int, def string) string {
	if !c.has(i) {
		return def
	}
	switch v := c.vals[i].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return pyFloat(v)
	}
	return def
}

func (c *call) bool(i int, def bool) bool {
	if !c.has(i) {
		return def
	}
	b, ok := c.vals[i].(bool)
	if !ok {
		return def
	}
	return b
}

// multi returns a multiple parameter's values.
func (c *call) multi(i int) []any {
	if !c.has(i) {
		return nil
	}
	m, _ := c.vals[i].([]any)
	return m
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	case bool:
		if v {
			return 1
		}
		return 0
	}
	return nan
}

// pyFloat writes a float as Python's repr does (1.0, 0.5, 1e-05).
func pyFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	case math.IsNaN(v):
		return "nan"
	}
	a := math.Abs(v)
	if a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(v, 'e', -1, 64)
		// Go writes e-05 like Python; e+16 too.
		return s
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// pyG writes a float as Python's %g does (6 significant digits).
func pyG(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	case math.IsNaN(v):
		return "nan"
	}
	if v == 0 {
		return "0"
	}
	exp := int(math.Floor(math.Log10(math.Abs(v))))
	// Rounding to 6 digits may carry into the next power of ten.
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'e', 5, 64), 64)
	if r != 0 {
		exp = int(math.Floor(math.Log10(math.Abs(r))))
	}
	if exp < -4 || exp >= 6 {
		s := strconv.FormatFloat(v, 'e', 5, 64)
		mant, e, _ := strings.Cut(s, "e")
		if strings.Contains(mant, ".") {
			mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
		}
		sign := e[0]
		digits := strings.TrimLeft(e[1:], "0")
		if len(digits) < 2 {
			digits = strings.Repeat("0", 2-len(digits)) + digits
		}
		return mant + "e" + string(sign) + digits
	}
	s := strconv.FormatFloat(v, 'f', max(0, 5-exp), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// pyNum writes an argument value as Python's str() does in a series name:
// integers plain, floats with repr.
func pyNum(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return pyFloat(v)
	case bool:
		if v {
			return "True"
		}
		return "False"
	case string:
		return v
	case nil:
		return "None"
	}
	return fmt.Sprint(v)
}
