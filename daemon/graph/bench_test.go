package graph

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"math"
	"strconv"
	"syscall"
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
	ch.Markers = []Marker{{From: fixtureStart + 200*60e3, Text: "deploy"}, {From: fixtureStart + 500*60e3, Until: fixtureStart + 560*60e3, Text: "incident"}}
	return ch
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// moves far less than wall time with the neighbours' load.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds wall and CPU milliseconds per chart.
func report(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// BenchmarkRender is `go tool -modfile=tools/go.mod task bench:graph`: render and encode in each
// format (targets: png ≤ 30 ms, svg ≤ 10 ms).
func BenchmarkRender(b *testing.B) {
	ch := benchChart()
	for _, f := range Formats {
		b.Run(string(f), func(b *testing.B) {
			var buf bytes.Buffer
			r := NewRenderer()
			if err := r.Render(&buf, ch, f); err != nil { // warm caches (fonts)
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				buf.Reset()
				if err := r.Render(&buf, ch, f); err != nil {
					b.Fatal(err)
				}
			}
			report(b, cpu)
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
	}
}

// BenchmarkRaster splits the PNG path into drawing and encoding, and
// draws the same chart through plot's own vgimg canvas for comparison
// (see RATIONALE.md for why canopy keeps its own gg canvas).
func BenchmarkRaster(b *testing.B) {
	ch := normalize(benchChart())
	b.Run("draw-gg", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			c := newGGCanvas(image.NewRGBA(image.Rect(0, 0, ch.Width, ch.Height)), dpi, palettes[ch.Theme].bg)
			drawChart(draw.New(c), ch)
			c.close()
		}
		report(b, cpu)
	})
	b.Run("draw-vgimg", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			c := vgimg.NewWith(vgimg.UseWH(px(800), px(300)), vgimg.UseDPI(dpi))
			drawChart(draw.New(c), ch)
		}
		report(b, cpu)
	})
	c := newGGCanvas(image.NewRGBA(image.Rect(0, 0, ch.Width, ch.Height)), dpi, palettes[ch.Theme].bg)
	drawChart(draw.New(c), ch)
	for _, level := range []png.CompressionLevel{png.BestSpeed, png.DefaultCompression} {
		name := map[png.CompressionLevel]string{png.BestSpeed: "encode-png-bestspeed", png.DefaultCompression: "encode-png-default"}[level]
		b.Run(name, func(b *testing.B) {
			enc := png.Encoder{CompressionLevel: level, BufferPool: make(pngBuffers, 1)}
			cpu := cpuTime()
			for b.Loop() {
				if err := enc.Encode(io.Discard, c.image()); err != nil {
					b.Fatal(err)
				}
			}
			report(b, cpu)
		})
	}
}
