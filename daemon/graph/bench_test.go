package graph

import (
	"bytes"
	"image/png"
	"io"
	"math"
	"strconv"
	"testing"
	"time"

	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// benchChart is the benchmark: 800×300, 5 series × 1,000 points.
func benchChart() *Chart {
	ch := &Chart{Title: "bench", Width: 800, Height: 300}
	for s := 0; s < 5; s++ {
		ch.Series = append(ch.Series, wave("bench,series"+strconv.Itoa(s), 1000, time.Minute, func(i int) float64 {
			return float64(s+1)*100 + 50*math.Sin(float64(i)/float64(20+7*s)) + float64((i*7919+s*104729)%37)
		}))
	}
	return ch
}

func BenchmarkRender(b *testing.B) {
	ch := benchChart()
	for _, f := range Formats {
		b.Run(string(f), func(b *testing.B) {
			var buf bytes.Buffer
			r := NewRenderer()
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := r.Render(&buf, ch, f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
	}
}

// BenchmarkRenderVgimg draws the same chart through plot's own raster
// canvas (sbinet/gg, a new font face per string) for comparison with
// ggCanvas; it is why canopy keeps its own (see RATIONALE.md).
func BenchmarkRenderVgimg(b *testing.B) {
	ch := normalize(benchChart())
	for b.Loop() {
		c := vgimg.NewWith(vgimg.UseWH(px(800), px(300)), vgimg.UseDPI(dpi))
		drawChart(draw.New(c), ch)
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(io.Discard, c.Image()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

// BenchmarkDrawOnly separates drawing from encoding for the raster path.
func BenchmarkDrawOnly(b *testing.B) {
	ch := normalize(benchChart())
	for b.Loop() {
		c := newGGCanvas(ch.Width, ch.Height, dpi, palettes[ch.Theme].bg)
		drawChart(draw.New(c), ch)
		c.close()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}
