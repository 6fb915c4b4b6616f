package graphite

import (
	"context"
	"testing"
	"time"
)

// FuzzParse: no target makes the parser or the evaluator panic, and a
// parsed target evaluates to series or to an error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a.b.c", "sumSeries(a.*,b.{x,y})", "scale(a.b,-2.5e3)", "alias(a.b,'x')",
		"summarize(a.b,'1h',func='max',alignToFrom=true)", "a.b|scale(2)|alias(\"y\")",
		"movingAverage(a.*,'5min')", "groupByNode(a.*.*,1,'sum')", "asPercent(a.*,None,1)",
		"timeShift(a.b,'1d')", "hitcount(a.b,'1h',true)", "keepLastValue(a.b,inf)", "f(", "a..b", "{", "',",
	} {
		f.Add(s)
	}
	base := int64(1_700_000_000)
	ev := &Evaluator{Src: &Memory{Step: 10, Points: map[string]map[int64]float64{
		"a.b": {base + 10: 1, base + 30: -2}, "a.c": {base + 20: 3}, "b.x": {base: 0},
	}}}
	f.Fuzz(func(t *testing.T, target string) {
		e, err := Parse(target)
		if err != nil {
			return
		}
		_ = show(e)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = ev.Eval(ctx, Request{Targets: []string{target}, From: base, Until: base + 60, Now: base + 60})
	})
}
