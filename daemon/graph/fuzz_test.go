package graph

import (
	"io"
	"math"
	"testing"
)

// FuzzRender draws charts of hostile values (NaN, ±Inf, huge, equal or
// unsorted times) in every style and type: it must never panic or fail.
func FuzzRender(f *testing.F) {
	f.Add(1.0, 2.0, 3.0, int64(60_000), uint8(0), uint8(0), false)
	f.Add(math.NaN(), math.Inf(1), math.Inf(-1), int64(0), uint8(1), uint8(2), true)
	f.Add(1e308, -1e308, 5e-324, int64(-1), uint8(2), uint8(3), false)
	f.Add(0.0, 0.0, 0.0, int64(1), uint8(3), uint8(1), true)
	f.Add(-5.0, 5.0, -5.0, int64(365*86400_000), uint8(2), uint8(0), false)
	f.Fuzz(func(t *testing.T, a, b, c float64, step int64, style, typ uint8, bars bool) {
		ch := &Chart{
			Title:  "fuzz",
			Style:  Styles[int(style)%len(Styles)],
			Type:   Types[int(typ)%len(Types)],
			Width:  200,
			Height: 120,
		}
		vals := []float64{a, b, c, b, a}
		if bars {
			for i, v := range vals {
				ch.Bars = append(ch.Bars, Bar{Label: string(rune('a' + i)), Value: v})
			}
		} else {
			for s, name := range []string{"x,in", "x,out", "x,idle"} {
				ser := Series{Name: name}
				for i, v := range vals {
					ser.Points = append(ser.Points, Point{T: 1_700_000_000_000 + int64(i)*step, V: v * float64(s+1)})
				}
				ch.Series = append(ch.Series, ser)
			}
			ch.Markers = []Marker{{From: 1_700_000_000_000 + step, Until: 1_700_000_000_000 + 3*step, Text: "m"}}
		}
		if err := NewRenderer().Render(io.Discard, ch, FormatPNG); err != nil {
			t.Fatalf("render %+v: %v", ch, err)
		}
	})
}
