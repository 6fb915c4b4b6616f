package graph

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

func TestBuildLayers(t *testing.T) {
	series := []Series{
		{Name: "cpu,h,user", Points: []Point{{1000, 30}, {2000, 10}}},
		{Name: "cpu,h,idle", Points: []Point{{1000, 90}, {2000, 30}, {3000, 50}}},
	}
	tests := []struct {
		name  string
		chart Chart
		hi    [][]float64 // per layer
		lo    [][]float64 // nil: a line
	}{
		{"cpu stacked shares", Chart{Style: StyleCPU, Type: TypeStacked},
			[][]float64{{25, 25, 0}, {100, 100, 100}}, [][]float64{{0, 0, 0}, {25, 25, 0}}},
		{"cpu lines are shares too", Chart{Style: StyleCPU, Type: TypeLine},
			[][]float64{{25, 25, 0}, {75, 75, 100}}, [][]float64{nil, nil}},
		{"default lines as they are", Chart{Style: StyleDefault, Type: TypeLine},
			[][]float64{{30, 10}, {90, 30, 50}}, [][]float64{nil, nil}},
		{"default stacked, missing as zero", Chart{Style: StyleDefault, Type: TypeStacked},
			[][]float64{{30, 10, 0}, {120, 40, 50}}, [][]float64{{0, 0, 0}, {30, 10, 0}}},
		{"net mirrors out", Chart{Style: StyleNet, Type: TypeArea},
			[][]float64{{30, 10}, {90, 30, 50}}, [][]float64{{0, 0}, {0, 0, 0}}},
	}
	for _, tc := range tests {
		ch := normalize(&tc.chart)
		in := series
		if ch.Style == StyleNet {
			in = []Series{{Name: "net,eth0,in", Points: series[0].Points}, {Name: "net,eth0,out", Points: series[1].Points}}
			tc.hi[1] = []float64{-90, -30, -50}
		}
		layers := buildLayers(ch, palettes[ThemeLight], slices.Clone(in))
		for i, l := range layers {
			if !slices.EqualFunc(l.hi, tc.hi[i], func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
				t.Errorf("%s: layer %d top %v, want %v", tc.name, i, l.hi, tc.hi[i])
			}
			if (l.lo == nil) != (tc.lo[i] == nil) || l.lo != nil && !slices.Equal(l.lo, tc.lo[i]) {
				t.Errorf("%s: layer %d bottom %v, want %v", tc.name, i, l.lo, tc.lo[i])
			}
		}
	}
}

func TestBarsFromSeries(t *testing.T) {
	got := barsFromSeries([]Series{{Name: "url,/", Points: []Point{{1, 3}, {2, math.NaN()}, {3, 4}}}, {Name: "url,/a", Points: []Point{{1, 1}}}})
	want := []Bar{{"url,/", 7}, {"url,/a", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("barsFromSeries = %v, want %v", got, want)
	}
}

// TestTreeBarsByStyle: current values drawn as bars read as shares for cpu
// and as byte totals (not rates) for net.
func TestTreeBarsByStyle(t *testing.T) {
	bars := []Bar{{"cpu,h,user", 30}, {"cpu,h,idle", 90}}
	for _, tc := range []struct {
		style Style
		want  []string
	}{
		{StyleCPU, []string{"25%", "75%"}},
		{StyleNet, []string{"30 B", "90 B"}},
	} {
		var buf bytes.Buffer
		if err := NewRenderer().Render(&buf, &Chart{Style: tc.style, Bars: bars, Width: 300, Height: 150}, FormatSVG); err != nil {
			t.Fatal(err)
		}
		texts, _, _ := svgContent(t, buf.Bytes())
		for _, w := range tc.want {
			if !slices.Contains(texts, w) {
				t.Errorf("%s bars lack %q: %q", tc.style, w, texts)
			}
		}
	}
}
