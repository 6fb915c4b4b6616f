package graphite

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: a compact rendering, or "error"
	}{
		{"a.b.c", "path(a.b.c)"},
		{"a.{b,c}.d[0-9]*", "path(a.{b,c}.d[0-9]*)"},
		{"sumSeries(a.*, b.*)", "call(sumSeries path(a.*) path(b.*))"},
		{"scale(a.b, 2.5)", "call(scale path(a.b) num(2.5))"},
		{"scale(a.b,-2)", "call(scale path(a.b) int(-2))"},
		{"alias(a.b, 'x y')", "call(alias path(a.b) str(x y))"},
		{`alias(a.b,"x")`, "call(alias path(a.b) str(x))"},
		{"keepLastValue(a.b, inf)", "call(keepLastValue path(a.b) num(+Inf))"},
		{"summarize(a.b,'1h',func='max',alignToFrom=true)", "call(summarize path(a.b) str(1h) func=str(max) alignToFrom=bool(True))"},
		{"a.b | scale(2) | alias('x')", "call(alias call(scale path(a.b) int(2)) str(x))"},
		{"transformNull(a.b, None)", "call(transformNull path(a.b) none)"},
		{"scale(a.b,1e3)", "call(scale path(a.b) num(1000))"},
		{"sumSeries(a.b", "error"},
		{"a..b", "error"},
		{"a.{b,c", "error"},
		{"", "error"},
		{"f(a.b,x=1,2)", "error"},
	} {
		e, err := Parse(tc.in)
		got := "error"
		if err == nil {
			got = show(e)
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %s (err %v), want %s", tc.in, got, err, tc.want)
		}
	}
}

func show(e *Expr) string {
	switch e.Kind {
	case KindPath:
		return "path(" + e.Str + ")"
	case KindString:
		return "str(" + e.Str + ")"
	case KindNumber:
		if e.Int {
			return "int(" + pyNum(int64(e.Num)) + ")"
		}
		return "num(" + formatG(e.Num) + ")"
	case KindBool:
		return "bool(" + pyNum(e.Bool) + ")"
	case KindNone:
		return "none"
	}
	s := "call(" + e.Str
	for _, a := range e.Args {
		s += " " + show(a)
	}
	for _, k := range e.Kw {
		s += " " + k.Name + "=" + show(k.Value)
	}
	return s + ")"
}

func formatG(v float64) string {
	if v > 1e300 {
		return "+Inf"
	}
	return pyG(v)
}

func TestEval(t *testing.T) {
	base := int64(1_700_000_000)
	mem := &Memory{Step: 10, Points: map[string]map[int64]float64{
		"a.x": {base + 10: 1, base + 20: 2, base + 30: 3},
		"a.y": {base + 10: 10, base + 30: 30},
	}}
	ev := &Evaluator{Src: mem}
	for _, tc := range []struct {
		target, want string
	}{
		{"a.x", `[{"target": "a.x", "tags": {"name": "a.x"}, "datapoints": [[1.0, 1700000010], [2.0, 1700000020], [3.0, 1700000030]]}]`},
		{"sumSeries(a.*)", `[{"target": "sumSeries(a.*)", "tags": {"aggregatedBy": "sum", "name": "sumSeries(a.*)"}, "datapoints": [[11.0, 1700000010], [2.0, 1700000020], [33.0, 1700000030]]}]`},
		{"alias(scale(a.y,0.5),'half')", `[{"target": "half", "tags": {"name": "a.y", "scale": "0.5"}, "datapoints": [[5.0, 1700000010], [null, 1700000020], [15.0, 1700000030]]}]`},
	} {
		got, err := ev.Eval(context.Background(), Request{Targets: []string{tc.target}, From: base + 5, Until: base + 35, Now: base + 100})
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		var b bytes.Buffer
		if err := WriteJSON(&b, got, Options{}); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.target, b.String(), tc.want)
		}
	}
	for _, tc := range []struct{ target, want string }{
		{"nosuch(a.x)", `Invalid parameters (Received request for unknown function: nosuch); targets: "nosuch(a.x)"`},
		{"scale(a.x,'x')", `Invalid parameters (Invalid "float" value specified for function "scale" parameter "factor": 'x'); targets: "scale(a.x,'x')"`},
		{"scale(a.x)", `Invalid parameters (Missing required parameter "factor" for function "scale"); targets: "scale(a.x)"`},
		{"absolute(a.x,1)", `Invalid parameters (Too many parameters specified for function "absolute"); targets: "absolute(a.x,1)"`},
	} {
		_, err := ev.Eval(context.Background(), Request{Targets: []string{tc.target}, From: base, Until: base + 35, Now: base + 100})
		if err == nil || !errors.Is(err, ErrBadRequest) || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.target, err, tc.want)
		}
	}
}
