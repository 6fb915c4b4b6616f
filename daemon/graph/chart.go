// Package graph draws canopy's server-side charts: time series from the
// trend store (lines, areas, stacked areas, columns), the current tree as
// bars, and markers as labelled lines or shaded ranges, in the seed's styles
// (cpu, net, url, default) and themes, as PNG, JPEG, SVG or PDF.
//
// One drawing model feeds every format: gonum.org/v1/plot lays out axes,
// ticks and titles and draws through its vg.Canvas interface; a vg.Canvas
// over git.sr.ht/~sbinet/gg (the fork plot links) rasterizes PNG and JPEG, and plot's own vgsvg
// and vgpdf backends write SVG and PDF. Fonts are Liberation, embedded in
// the binary.
package graph

import (
	"fmt"
	"strings"
	"time"
)

// Point is one sample: T in Unix milliseconds. A NaN value is a gap.
type Point struct {
	T int64
	V float64
}

// Series is one named line of a chart.
type Series struct {
	Name   string
	Points []Point
	// StepMS, when set, says each value is an increase over StepMS (a
	// counter read with fn=rate); charts in a per-second unit divide by it.
	StepMS int64
}

// Marker annotates a time: a labelled vertical line when Until <= From, a
// shaded range otherwise. Times in Unix milliseconds.
type Marker struct {
	From, Until int64
	Text        string
}

// Bar is one labelled value of a bar chart of the current tree.
type Bar struct {
	Label string
	Value float64
}

// Chart is everything needed to draw one graph.
type Chart struct {
	Title  string
	Style  Style
	Type   Type // "" = the style's default
	Theme  Theme
	Unit   Unit // "" = from the style, else plain numbers with SI prefixes
	Width  int  // pixels
	Height int  // pixels
	// From and Until fix the time axis (Unix ms); zero means the data's range.
	From, Until int64
	// Location is the time zone of the time axis (nil = UTC).
	Location *time.Location

	Series  []Series // time series; when empty, Bars are drawn
	Bars    []Bar
	Markers []Marker
}

// Size limits: a chart is at least MinSize and at most MaxSize pixels on
// each side; requests outside are clamped.
const (
	MinSize       = 64
	MaxSize       = 4000
	DefaultWidth  = 800
	DefaultHeight = 300
)

// Style selects how series are read and drawn (the seed's styles).
type Style string

// Styles.
const (
	StyleDefault Style = "default" // lines with a time axis
	StyleCPU     Style = "cpu"     // stacked percent areas
	StyleNet     Style = "net"     // in above, out mirrored below zero, bytes/s
	StyleURL     Style = "url"     // top-N horizontal bars
)

// Type selects the mark drawn for each series.
type Type string

// Types.
const (
	TypeLine    Type = "line"
	TypeBar     Type = "bar"
	TypeArea    Type = "area"
	TypeStacked Type = "stacked"
)

// Theme selects the colours.
type Theme string

// Themes.
const (
	ThemeLight Theme = "light"
	ThemeDark  Theme = "dark"
)

// Format is an output file format.
type Format string

// Formats.
const (
	FormatPNG  Format = "png"
	FormatJPEG Format = "jpg"
	FormatSVG  Format = "svg"
	FormatPDF  Format = "pdf"
)

// Unit says how values are labelled on the value axis.
type Unit string

// Units.
const (
	UnitNone        Unit = "none"    // 1.5k, 2M (SI prefixes)
	UnitBytes       Unit = "bytes"   // 1.5 kB, 2 MB
	UnitBytesPerSec Unit = "bytes/s" // 1.5 kB/s
	UnitSeconds     Unit = "seconds" // 250 ms, 1.5 s, 2 min, 3 h
	UnitPercent     Unit = "percent" // 25 %
	UnitPerSec      Unit = "per_second"
)

// Valid values, in the order error messages list them.
var (
	Styles  = []Style{StyleDefault, StyleCPU, StyleNet, StyleURL}
	Types   = []Type{TypeLine, TypeBar, TypeArea, TypeStacked}
	Themes  = []Theme{ThemeLight, ThemeDark}
	Formats = []Format{FormatPNG, FormatJPEG, FormatSVG, FormatPDF}
	Units   = []Unit{UnitNone, UnitBytes, UnitBytesPerSec, UnitSeconds, UnitPercent, UnitPerSec}
)

// ParseStyle parses a style name; "" is the default style.
func ParseStyle(s string) (Style, error) {
	if s == "" {
		return StyleDefault, nil
	}
	return parseEnum("style", s, Styles)
}

// ParseType parses a chart type; "" leaves the choice to the style.
func ParseType(s string) (Type, error) {
	if s == "" {
		return "", nil
	}
	return parseEnum("type", s, Types)
}

// ParseTheme parses a theme name; "" is light.
func ParseTheme(s string) (Theme, error) {
	if s == "" {
		return ThemeLight, nil
	}
	return parseEnum("theme", s, Themes)
}

// ParseFormat parses a format name or file extension; "" is PNG.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "":
		return FormatPNG, nil
	case "jpeg":
		return FormatJPEG, nil
	}
	return parseEnum("format", strings.ToLower(s), Formats)
}

// ParseUnit parses a unit name; "" leaves the choice to the style.
func ParseUnit(s string) (Unit, error) {
	if s == "" {
		return "", nil
	}
	return parseEnum("unit", s, Units)
}

func parseEnum[T ~string](what, s string, valid []T) (T, error) {
	for _, v := range valid {
		if string(v) == s {
			return v, nil
		}
	}
	names := make([]string, len(valid))
	for i, v := range valid {
		names[i] = string(v)
	}
	return "", fmt.Errorf("unknown %s %q (valid: %s)", what, s, strings.Join(names, ", "))
}

// ContentType returns the MIME type of f.
func (f Format) ContentType() string {
	switch f {
	case FormatJPEG:
		return "image/jpeg"
	case FormatSVG:
		return "image/svg+xml"
	case FormatPDF:
		return "application/pdf"
	}
	return "image/png"
}

// ClampSize keeps a requested dimension within [MinSize, MaxSize]; 0 means def.
func ClampSize(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < MinSize:
		return MinSize
	case v > MaxSize:
		return MaxSize
	}
	return v
}
