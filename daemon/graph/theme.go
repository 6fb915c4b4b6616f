package graph

import (
	"image/color"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette holds the colours of one theme.
type palette struct {
	bg, fg, muted, grid, axis color.Color
	series                    []color.Color
	marker, markerFill        color.Color
	idle                      color.Color // cpu idle: quiet, so busy time stands out
}

func rgb(hex uint32) color.RGBA {
	return color.RGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 0xff}
}

// Tableau 10: distinct, colour-blind friendly, readable on light and dark.
var seriesColors = []color.Color{
	rgb(0x4e79a7), rgb(0xf28e2b), rgb(0xe15759), rgb(0x76b7b2), rgb(0x59a14f),
	rgb(0xedc948), rgb(0xb07aa1), rgb(0xff9da7), rgb(0x9c755f), rgb(0xbab0ac),
}

var palettes = map[Theme]palette{
	ThemeLight: {
		bg: color.White, fg: rgb(0x333333), muted: rgb(0x888888), grid: rgb(0xe6e6e6), axis: rgb(0x999999),
		series: seriesColors, marker: rgb(0xc0392b), markerFill: color.NRGBA{R: 0xc0, G: 0x39, B: 0x2b, A: 0x30},
		idle: rgb(0xdddddd),
	},
	ThemeDark: {
		bg: rgb(0x1e1f24), fg: rgb(0xdddddd), muted: rgb(0x999999), grid: rgb(0x35363c), axis: rgb(0x77787e),
		series: seriesColors, marker: rgb(0xff6b5b), markerFill: color.NRGBA{R: 0xff, G: 0x6b, B: 0x5b, A: 0x38},
		idle: rgb(0x45464d),
	},
}

func (p palette) color(i int) color.Color { return p.series[i%len(p.series)] }

// withAlpha returns c at opacity a (0–255), non-premultiplied.
func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}

// cpuOrder ranks the usual cpu states so stacks read the same on every
// host: busy states at the bottom, idle on top.
var cpuOrder = []string{"user", "nice", "system", "sytem", "iowait", "wio", "irq", "softirq", "intr", "steal", "guest", "guest_nice", "idle"}

var cpuColors = map[string]color.Color{
	"user": rgb(0x4e79a7), "nice": rgb(0x59a14f), "system": rgb(0xe15759), "sytem": rgb(0xe15759),
	"iowait": rgb(0xf28e2b), "wio": rgb(0xf28e2b), "irq": rgb(0x9c755f), "softirq": rgb(0xb07aa1),
	"intr": rgb(0x9c755f), "steal": rgb(0xedc948), "guest": rgb(0x76b7b2), "guest_nice": rgb(0xff9da7),
}

func cpuRank(name string) int {
	last := strings.ToLower(lastSegment(name))
	for i, n := range cpuOrder {
		if last == n {
			return i
		}
	}
	return len(cpuOrder) - 1 // unknown states go just below idle
}

// Fonts: Liberation Sans (metric-compatible with Arial), embedded by plot.
// One weight only: plot's vgpdf cannot select a bold face (it registers
// every font without a style, then asks for style "B").
var (
	regularFont = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightNormal}
	boldFont    = regularFont
)

func textStyle(f font.Font, size vg.Length, c color.Color) text.Style {
	return text.Style{
		Color:   c,
		Font:    font.From(f, size),
		XAlign:  draw.XLeft,
		YAlign:  draw.YBottom,
		Handler: plot.DefaultTextHandler,
	}
}

// lastSegment returns the last comma-separated name of a key.
func lastSegment(key string) string {
	if i := strings.LastIndexByte(key, ','); i >= 0 {
		return key[i+1:]
	}
	return key
}
