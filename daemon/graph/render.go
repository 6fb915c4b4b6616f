package graph

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// dpi maps pixels to points: a chart of W×H pixels is a W×H CSS-pixel SVG
// and a PDF page that pdftoppm -r 96 renders at W×H pixels.
const dpi = 96

func px(n float64) vg.Length { return vg.Length(n * 72 / dpi) }

// Renderer draws charts. It keeps a few pixel buffers and PNG encoder
// buffers between charts (in channels, which unlike sync.Pool survive the
// collections a chart's own garbage triggers); one Renderer is safe for
// concurrent use.
type Renderer struct {
	png    png.Encoder
	images chan *image.RGBA
}

// NewRenderer returns a Renderer.
func NewRenderer() *Renderer {
	// BestSpeed: a third of the default level's time for charts, whose
	// large flat areas compress well at any level.
	return &Renderer{
		png:    png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: make(pngBuffers, 4)},
		images: make(chan *image.RGBA, 4),
	}
}

// image returns a w×h pixel buffer, reused when one of that size is free.
func (r *Renderer) image(w, h int) *image.RGBA {
	select {
	case im := <-r.images:
		if im.Rect.Dx() == w && im.Rect.Dy() == h {
			return im
		}
	default:
	}
	return image.NewRGBA(image.Rect(0, 0, w, h))
}

func (r *Renderer) release(im *image.RGBA) {
	select {
	case r.images <- im:
	default:
	}
}

type pngBuffers chan *png.EncoderBuffer

func (b pngBuffers) Get() *png.EncoderBuffer {
	select {
	case buf := <-b:
		return buf
	default:
		return nil
	}
}

func (b pngBuffers) Put(buf *png.EncoderBuffer) {
	select {
	case b <- buf:
	default:
	}
}

// Render draws ch in format f to w.
func (r *Renderer) Render(w io.Writer, ch *Chart, f Format) error {
	ch = normalize(ch)
	wpt, hpt := px(float64(ch.Width)), px(float64(ch.Height))
	switch f {
	case FormatPNG, FormatJPEG:
		c := newGGCanvas(r.image(ch.Width, ch.Height), dpi, palettes[ch.Theme].bg)
		defer r.release(c.image())
		defer c.close()
		drawChart(draw.New(c), ch)
		bw := bufio.NewWriter(w)
		var err error
		if f == FormatPNG {
			err = r.png.Encode(bw, c.image())
		} else {
			err = jpeg.Encode(bw, c.image(), &jpeg.Options{Quality: 90})
		}
		if err != nil {
			return fmt.Errorf("cannot encode %s: %w", f, err)
		}
		return bw.Flush()
	case FormatSVG:
		c := vgsvg.NewWith(vgsvg.UseWH(wpt, hpt), vgsvg.EmbedFonts(true))
		drawChart(draw.New(c), ch)
		if _, err := c.WriteTo(w); err != nil {
			return fmt.Errorf("cannot write svg: %w", err)
		}
		return nil
	case FormatPDF:
		c := vgpdf.New(wpt, hpt)
		drawChart(draw.New(pdfCanvas{c}), ch)
		if _, err := c.WriteTo(w); err != nil {
			return fmt.Errorf("cannot write pdf: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown format %q", f)
}

// normalize returns a copy of ch with defaults filled in.
func normalize(in *Chart) *Chart {
	ch := *in
	ch.Width = ClampSize(ch.Width, DefaultWidth)
	ch.Height = ClampSize(ch.Height, DefaultHeight)
	if ch.Style == "" {
		ch.Style = StyleDefault
	}
	if _, ok := palettes[ch.Theme]; !ok {
		ch.Theme = ThemeLight
	}
	if ch.Location == nil {
		ch.Location = time.UTC
	}
	if ch.Type == "" {
		switch ch.Style {
		case StyleCPU:
			ch.Type = TypeStacked
		case StyleNet:
			ch.Type = TypeArea
		case StyleURL:
			ch.Type = TypeBar
		default:
			ch.Type = TypeLine
		}
	}
	if ch.Unit == "" {
		switch ch.Style {
		case StyleCPU:
			ch.Unit = UnitPercent
		case StyleNet:
			ch.Unit = UnitBytesPerSec
		default:
			ch.Unit = UnitNone
		}
	}
	return &ch
}

// layer is one filled band or line of a time chart, in plot coordinates
// (x in Unix seconds). Lo nil means a line; otherwise the band between Lo
// and Hi is filled.
type layer struct {
	name   string
	color  color.Color
	x      []float64
	lo, hi []float64
	fill   color.Color // nil: no fill
	stroke bool
	bars   float64 // > 0: columns of this width (seconds) instead of a band
}

// sizes in pixels at the default 800×300; they do not grow with the chart.
const (
	marginPx    = 8
	titlePt     = 10.5
	labelPt     = 7.5
	legendPt    = 7.5
	lineWidthPx = 1.5
)

func drawChart(dc draw.Canvas, ch *Chart) {
	pal := palettes[ch.Theme]
	dc.SetColor(pal.bg)
	dc.Fill(dc.Rectangle.Path())
	dc = draw.Crop(dc, px(marginPx), -px(marginPx), px(marginPx*0.75), -px(marginPx*0.75))

	p := plot.New()
	p.BackgroundColor = nil
	if ch.Title != "" {
		p.Title.Text = ch.Title
		p.Title.TextStyle = textStyle(boldFont, titlePt, pal.fg)
		p.Title.TextStyle.XAlign = draw.XCenter
		p.Title.TextStyle.YAlign = draw.YTop
		p.Title.Padding = px(6)
	}
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Color = pal.axis
		a.Width = px(1)
		a.Padding = 0
		a.Tick.Color = pal.axis
		a.Tick.Width = px(1)
		a.Tick.Length = px(4)
		a.Tick.Label = textStyle(regularFont, labelPt, pal.fg)
	}
	p.Y.Tick.Label.XAlign = draw.XRight
	p.Y.Tick.Label.YAlign = draw.YCenter
	p.X.Tick.Label.XAlign = draw.XCenter
	p.X.Tick.Label.YAlign = draw.YTop

	counts := usableSeries(ch.Series)
	series := perSecond(counts, ch.Unit)
	if ch.Unit == UnitNone && len(counts) > 0 && ch.Style != StyleURL && allCounts(counts) {
		ch.Unit = UnitPerSec // counters are drawn as rates
	}
	switch {
	case len(series) > 0 && ch.Style == StyleURL:
		drawBars(dc, p, ch, pal, barsFromSeries(counts), true)
	case len(series) > 0:
		drawTimeChart(dc, p, ch, pal, series)
	case len(ch.Bars) > 0:
		bars := ch.Bars
		switch ch.Style {
		case StyleCPU: // the current shares of the cpu states
			bars = slices.Clone(bars)
			vals := make([][]float64, len(bars))
			for i, b := range bars {
				vals[i] = []float64{b.Value}
			}
			toPercent(vals)
			for i := range bars {
				bars[i].Value = vals[i][0]
			}
		case StyleNet: // the tree holds totals, not rates
			if ch.Unit == UnitBytesPerSec {
				ch.Unit = UnitBytes
			}
		}
		drawBars(dc, p, ch, pal, bars, ch.Style == StyleURL || len(bars) > ch.Width/40)
	default:
		drawNoData(dc, p, pal)
	}
}

func allCounts(in []Series) bool {
	for _, s := range in {
		if s.StepMS <= 0 {
			return false
		}
	}
	return true
}

// perSecond turns a counter's increases per step into rates per second:
// time charts draw counters as rates, whatever the zoom.
func perSecond(in []Series, _ Unit) []Series {
	out := make([]Series, len(in))
	for i, s := range in {
		out[i] = s
		if s.StepMS <= 0 {
			continue
		}
		out[i].Points = make([]Point, len(s.Points))
		for j, p := range s.Points {
			out[i].Points[j] = Point{T: p.T, V: p.V * 1000 / float64(s.StepMS)}
		}
		out[i].StepMS = 0
	}
	return out
}

// usableSeries drops series without a single finite point.
func usableSeries(in []Series) []Series {
	var out []Series
	for _, s := range in {
		for _, pt := range s.Points {
			if !math.IsNaN(pt.V) && !math.IsInf(pt.V, 0) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// barsFromSeries reduces each series to the sum of its points: for the
// counters a url chart shows, read as counts per step (the trend source's
// default), that is the hits in the time range.
func barsFromSeries(series []Series) []Bar {
	bars := make([]Bar, 0, len(series))
	for _, s := range series {
		sum := 0.0
		for _, p := range s.Points {
			if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
				sum += p.V
			}
		}
		bars = append(bars, Bar{Label: s.Name, Value: sum})
	}
	return bars
}

func drawNoData(dc draw.Canvas, p *plot.Plot, pal palette) {
	if p.Title.Text != "" {
		p.HideAxes()
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		p.Draw(dc)
	}
	sty := textStyle(boldFont, 16, pal.muted)
	sty.XAlign = draw.XCenter
	sty.YAlign = draw.YCenter
	dc.FillText(sty, dc.Center(), "no data")
}

func drawTimeChart(dc draw.Canvas, p *plot.Plot, ch *Chart, pal palette, series []Series) {
	if ch.Style == StyleCPU {
		sort.SliceStable(series, func(i, j int) bool { return cpuRank(series[i].Name) < cpuRank(series[j].Name) })
	}
	layers := buildLayers(ch, pal, series)
	names := shortNames(series)
	for i := range layers {
		layers[i].name = names[i]
	}

	// Legend below the plot, Graphite style: swatch and name, wrapped.
	legend := layoutLegend(layers, dc, ch)
	plotArea := draw.Crop(dc, 0, 0, legend.height, 0)

	xmin, xmax, ymin, ymax := layerRange(layers)
	if ch.From != 0 || ch.Until != 0 {
		if ch.From != 0 {
			xmin = float64(ch.From) / 1e3
		}
		if ch.Until != 0 {
			xmax = float64(ch.Until) / 1e3
		}
	}
	if xmax <= xmin {
		xmin, xmax = xmin-30, xmin+30
	}
	if ymin > 0 {
		ymin = 0 // web metrics read best from zero
	}
	if ch.Style == StyleCPU && ch.Type != TypeLine {
		ymin, ymax = 0, 100
	}
	if ymax <= ymin {
		ymax = ymin + 1
	}
	dataW := float64(ch.Width) - 80
	dataH := float64(ch.Height) - 70 - float64(legend.height.Dots(dpi))
	vt := valueTicker{unit: ch.Unit, n: max0(int(dataH/30), 3), abs: ch.Style == StyleNet}
	if ch.Style != StyleCPU || ch.Type == TypeLine {
		ymin, ymax = niceRange(vt, ymin, ymax)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, ymin, ymax
	p.X.Tick.Marker = timeTicker{n: max0(int(dataW/100), 2), loc: ch.Location}
	p.Y.Tick.Marker = vt

	grid := plotterFunc(func(c draw.Canvas, p *plot.Plot) { drawGrid(c, p, pal) })
	p.Add(grid, &layerPlotter{layers: layers, lineWidth: px(lineWidthPx)}, &markerPlotter{markers: ch.Markers, pal: pal})
	if ch.Style == StyleNet && ymin < 0 && ymax > 0 {
		p.Add(plotterFunc(func(c draw.Canvas, p *plot.Plot) {
			_, y := p.Transforms(&c)
			c.StrokeLine2(draw.LineStyle{Color: pal.axis, Width: px(1)}, c.Min.X, y(0), c.Max.X, y(0))
		}))
	}
	p.Draw(plotArea)
	legend.draw(dc, pal)
}

// niceRange widens [lo, hi] to whole tick steps.
func niceRange(vt valueTicker, lo, hi float64) (float64, float64) {
	ticks := vt.Ticks(lo, hi)
	if len(ticks) < 2 {
		return lo, hi
	}
	step := ticks[1].Value - ticks[0].Value
	return math.Floor(lo/step+1e-9) * step, math.Ceil(hi/step-1e-9) * step
}

type plotterFunc func(draw.Canvas, *plot.Plot)

func (f plotterFunc) Plot(c draw.Canvas, p *plot.Plot) { f(c, p) }

func drawGrid(c draw.Canvas, p *plot.Plot, pal palette) {
	x, y := p.Transforms(&c)
	sty := draw.LineStyle{Color: pal.grid, Width: px(1)}
	for _, t := range p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max) {
		if t.IsMinor() || t.Value < p.X.Min || t.Value > p.X.Max {
			continue
		}
		c.StrokeLine2(sty, x(t.Value), c.Min.Y, x(t.Value), c.Max.Y)
	}
	for _, t := range p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max) {
		if t.IsMinor() || t.Value < p.Y.Min || t.Value > p.Y.Max {
			continue
		}
		c.StrokeLine2(sty, c.Min.X, y(t.Value), c.Max.X, y(t.Value))
	}
}

// buildLayers turns series into bands or lines for the chart's style and type.
func buildLayers(ch *Chart, pal palette, series []Series) []layer {
	colorOf := func(i int) color.Color {
		if ch.Style == StyleCPU {
			name := strings.ToLower(lastSegment(series[i].Name))
			if name == "idle" {
				return pal.idle
			}
			if c, ok := cpuColors[name]; ok {
				return c
			}
		}
		if ch.Style == StyleNet {
			switch netDirection(series[i].Name) {
			case 1:
				return rgb(0x59a14f)
			case -1:
				return rgb(0x4e79a7)
			}
		}
		return pal.color(i)
	}
	layers := make([]layer, len(series))
	switch {
	case ch.Style == StyleCPU && ch.Type != TypeLine || ch.Type == TypeStacked || ch.Type == TypeBar:
		xs, cols := align(series)
		if ch.Style == StyleCPU {
			toPercent(cols)
		}
		base := make([]float64, len(xs))
		width := 0.0
		if ch.Type == TypeBar {
			width = minGap(xs) * 0.8
		}
		for i := range series {
			hi := make([]float64, len(xs))
			for j, v := range cols[i] {
				hi[j] = base[j] + v
			}
			c := colorOf(i)
			layers[i] = layer{color: c, x: xs, lo: base, hi: hi, fill: withAlpha(c, 0xd0), stroke: ch.Type != TypeBar, bars: width}
			if ch.Type == TypeBar {
				layers[i].fill = c
			}
			base = hi
		}
	default:
		if ch.Style == StyleCPU { // lines of each state's share
			xs, cols := align(series)
			toPercent(cols)
			pct := make([]Series, len(series))
			for i := range series {
				pct[i] = Series{Name: series[i].Name, Points: make([]Point, len(xs))}
				for j, x := range xs {
					pct[i].Points[j] = Point{T: int64(math.Round(x * 1e3)), V: cols[i][j]}
				}
			}
			series = pct
		}
		for i, s := range series {
			xs := make([]float64, len(s.Points))
			hi := make([]float64, len(s.Points))
			sign := 1.0
			if ch.Style == StyleNet && netDirection(s.Name) < 0 {
				sign = -1
			}
			for j, pt := range s.Points {
				xs[j] = float64(pt.T) / 1e3
				hi[j] = sign * pt.V
			}
			c := colorOf(i)
			layers[i] = layer{color: c, x: xs, hi: hi, stroke: true}
			if ch.Type == TypeArea {
				layers[i].lo = make([]float64, len(xs))
				layers[i].fill = withAlpha(c, 0x55)
			}
		}
	}
	return layers
}

// netDirection says whether a net series is incoming (1, drawn above zero),
// outgoing (-1, mirrored below) or unknown (0, above).
func netDirection(key string) int {
	name := strings.ToLower(lastSegment(key))
	for _, s := range []string{"out", "tx", "sent", "send", "write", "egress", "upload"} {
		if strings.Contains(name, s) {
			return -1
		}
	}
	for _, s := range []string{"in", "rx", "recv", "receive", "read", "ingress", "download"} {
		if strings.Contains(name, s) {
			return 1
		}
	}
	return 0
}

// align puts series on the union of their timestamps; a missing or NaN
// value counts as zero so stacks stay closed.
func align(series []Series) ([]float64, [][]float64) {
	seen := make(map[int64]struct{})
	var ts []int64
	for _, s := range series {
		for _, p := range s.Points {
			if _, ok := seen[p.T]; !ok {
				seen[p.T] = struct{}{}
				ts = append(ts, p.T)
			}
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	idx := make(map[int64]int, len(ts))
	xs := make([]float64, len(ts))
	for i, t := range ts {
		idx[t] = i
		xs[i] = float64(t) / 1e3
	}
	cols := make([][]float64, len(series))
	for i, s := range series {
		col := make([]float64, len(ts))
		for _, p := range s.Points {
			if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
				col[idx[p.T]] = p.V
			}
		}
		cols[i] = col
	}
	return xs, cols
}

// toPercent scales each column of values so they add up to 100.
func toPercent(cols [][]float64) {
	if len(cols) == 0 {
		return
	}
	for j := range cols[0] {
		sum := 0.0
		for i := range cols {
			sum += math.Max(cols[i][j], 0)
		}
		for i := range cols {
			if sum > 0 {
				cols[i][j] = math.Max(cols[i][j], 0) / sum * 100
			} else {
				cols[i][j] = 0
			}
		}
	}
}

func minGap(xs []float64) float64 {
	gap := math.Inf(1)
	for i := 1; i < len(xs); i++ {
		if d := xs[i] - xs[i-1]; d > 0 && d < gap {
			gap = d
		}
	}
	if math.IsInf(gap, 1) {
		return 60
	}
	return gap
}

func layerRange(layers []layer) (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, l := range layers {
		for j, x := range l.x {
			xmin, xmax = math.Min(xmin, x-l.bars/2), math.Max(xmax, x+l.bars/2)
			for _, v := range []float64{l.hi[j], valueAt(l.lo, j)} {
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
				}
			}
		}
	}
	if math.IsInf(ymin, 0) {
		ymin, ymax = 0, 1
	}
	return
}

func valueAt(s []float64, i int) float64 {
	if s == nil {
		return math.NaN()
	}
	return s[i]
}

// shortNames drops the key prefix all series share, so a legend of
// "net,eth0,in" and "net,eth0,out" reads "in", "out".
func shortNames(series []Series) []string {
	names := make([]string, len(series))
	if len(series) == 1 {
		names[0] = series[0].Name
		return names
	}
	split := make([][]string, len(series))
	common := -1
	for i, s := range series {
		split[i] = strings.Split(s.Name, ",")
		if common < 0 || len(split[i])-1 < common {
			common = len(split[i]) - 1
		}
	}
	n := 0
	for ; n < common; n++ {
		same := true
		for _, parts := range split[1:] {
			if parts[n] != split[0][n] {
				same = false
				break
			}
		}
		if !same {
			break
		}
	}
	for i := range series {
		names[i] = strings.Join(split[i][n:], ",")
	}
	return names
}

// layerPlotter draws the layers: fills first, then lines on top.
type layerPlotter struct {
	layers    []layer
	lineWidth vg.Length
}

func (lp *layerPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	x, y := p.Transforms(&c)
	for _, l := range lp.layers {
		switch {
		case l.bars > 0:
			for j, xv := range l.x {
				if l.hi[j] == l.lo[j] {
					continue
				}
				x0, x1 := x(xv-l.bars/2), x(xv+l.bars/2)
				y0, y1 := y(l.lo[j]), y(l.hi[j])
				rect := c.ClipPolygonXY([]vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
				c.FillPolygon(l.fill, rect)
			}
		case l.fill != nil:
			for _, run := range runs(l) {
				poly := make([]vg.Point, 0, 2*(run[1]-run[0]))
				for j := run[0]; j < run[1]; j++ {
					poly = append(poly, vg.Point{X: x(l.x[j]), Y: y(l.hi[j])})
				}
				for j := run[1] - 1; j >= run[0]; j-- {
					poly = append(poly, vg.Point{X: x(l.x[j]), Y: y(l.lo[j])})
				}
				c.FillPolygon(l.fill, c.ClipPolygonXY(poly))
			}
		}
	}
	for _, l := range lp.layers {
		if !l.stroke {
			continue
		}
		sty := draw.LineStyle{Color: l.color, Width: lp.lineWidth}
		for _, run := range runs(l) {
			line := make([]vg.Point, 0, run[1]-run[0])
			for j := run[0]; j < run[1]; j++ {
				line = append(line, vg.Point{X: x(l.x[j]), Y: y(l.hi[j])})
			}
			if len(line) == 1 { // a lone point: a short tick so it shows
				line = append(line, vg.Point{X: line[0].X + lp.lineWidth, Y: line[0].Y})
			}
			c.StrokeLines(sty, c.ClipLinesXY(line)...)
		}
	}
}

// runs returns [start, end) index ranges of finite values of a layer.
func runs(l layer) [][2]int {
	var out [][2]int
	start := -1
	for j := 0; j <= len(l.hi); j++ {
		ok := j < len(l.hi) && !math.IsNaN(l.hi[j]) && !math.IsInf(l.hi[j], 0)
		switch {
		case ok && start < 0:
			start = j
		case !ok && start >= 0:
			out = append(out, [2]int{start, j})
			start = -1
		}
	}
	return out
}

// markerPlotter draws markers: a dashed labelled line, or a shaded range.
type markerPlotter struct {
	markers []Marker
	pal     palette
}

func (mp *markerPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	x, _ := p.Transforms(&c)
	sty := textStyle(regularFont, labelPt, mp.pal.marker)
	sty.YAlign = draw.YTop
	markers := slices.Clone(mp.markers)
	sort.SliceStable(markers, func(i, j int) bool { return markers[i].From < markers[j].From })
	var rowEnds []vg.Length // right end of the last label in each row
	for _, m := range markers {
		from, until := float64(m.From)/1e3, float64(m.Until)/1e3
		if until < from {
			until = from
		}
		if until < p.X.Min || from > p.X.Max {
			continue
		}
		x0 := x(math.Max(from, p.X.Min))
		if until > from {
			x1 := x(math.Min(until, p.X.Max))
			c.FillPolygon(mp.pal.markerFill, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		} else {
			c.StrokeLine2(draw.LineStyle{Color: mp.pal.marker, Width: px(1), Dashes: []vg.Length{px(4), px(3)}}, x0, c.Min.Y, x0, c.Max.Y)
		}
		if m.Text == "" {
			continue
		}
		// Labels go in up to three rows; one that fits in none is left
		// out (its line or range still shows).
		s := sty
		w := sty.Width(m.Text)
		left := x0 + px(3)
		if left+w > c.Max.X {
			s.XAlign = draw.XRight
			left = x0 - px(3) - w
		}
		row := slices.IndexFunc(rowEnds, func(end vg.Length) bool { return left >= end })
		if row < 0 && len(rowEnds) < 3 {
			rowEnds = append(rowEnds, vg.Length(math.Inf(-1)))
			row = len(rowEnds) - 1
		}
		if row < 0 {
			continue
		}
		rowEnds[row] = left + w + px(6)
		tx := left
		if s.XAlign == draw.XRight {
			tx = left + w
		}
		c.FillText(s, vg.Point{X: tx, Y: c.Max.Y - px(2) - vg.Length(row)*px(13)}, m.Text)
	}
}

// drawBars draws bars of current values: horizontal (top N, largest on
// top, for URLs and long lists) or vertical columns in key order.
func drawBars(dc draw.Canvas, p *plot.Plot, ch *Chart, pal palette, bars []Bar, horizontal bool) {
	bars = append([]Bar(nil), bars...)
	labels := shortNames(barSeries(bars))
	for i := range bars {
		bars[i].Label = labels[i]
	}
	rowPx, colPx := 16.0, 40.0
	if horizontal {
		sort.SliceStable(bars, func(i, j int) bool { return bars[i].Value > bars[j].Value })
		bars = bars[:min(len(bars), max0(int((float64(ch.Height)-60)/rowPx), 1))]
	} else if n := max0(int((float64(ch.Width)-80)/colPx), 1); len(bars) > n {
		sort.SliceStable(bars, func(i, j int) bool { return bars[i].Value > bars[j].Value })
		bars = bars[:n]
	}
	lo, hi := 0.0, 0.0
	for _, b := range bars {
		lo, hi = math.Min(lo, b.Value), math.Max(hi, b.Value)
	}
	if hi == lo {
		hi = lo + 1
	}
	maxLabel := 36
	if horizontal {
		maxLabel = max0(ch.Width/3/6, 8) // about a third of the width
	} else {
		maxLabel = max0(int((float64(ch.Width)-80)/float64(len(bars))/6), 4)
	}
	names := make([]string, len(bars))
	for i, b := range bars {
		if horizontal { // the first bar is drawn on top
			names[len(bars)-1-i] = truncate(b.Label, maxLabel)
		} else {
			names[i] = truncate(b.Label, maxLabel)
		}
	}
	n := float64(len(bars))
	if horizontal {
		vt := valueTicker{unit: ch.Unit, n: max0((ch.Width-150)/70, 3)}
		lo, hi = niceRange(vt, lo, hi*1.12) // room for the value labels
		p.X.Min, p.X.Max = lo, hi
		p.Y.Min, p.Y.Max = -0.5, n-0.5
		p.X.Tick.Marker = vt
		p.NominalY(names...)
		p.X.Padding = 0
	} else {
		vt := valueTicker{unit: ch.Unit, n: max0((ch.Height-70)/30, 3)}
		lo, hi = niceRange(vt, lo, hi*1.08)
		p.Y.Min, p.Y.Max = lo, hi
		p.X.Min, p.X.Max = -0.5, n-0.5
		p.Y.Tick.Marker = vt
		p.NominalX(names...)
		p.Y.Padding = 0
	}
	p.Add(plotterFunc(func(c draw.Canvas, p *plot.Plot) { drawGrid(c, p, pal) }))
	p.Add(plotterFunc(func(c draw.Canvas, p *plot.Plot) {
		x, y := p.Transforms(&c)
		vsty := textStyle(regularFont, labelPt, pal.fg)
		for i, b := range bars {
			var r vg.Rectangle
			var at vg.Point
			col := pal.color(0)
			if !horizontal {
				col = pal.color(i)
			}
			if horizontal {
				pos := n - 1 - float64(i)
				r = vg.Rectangle{Min: vg.Point{X: x(math.Min(0, b.Value)), Y: y(pos - 0.35)}, Max: vg.Point{X: x(math.Max(0, b.Value)), Y: y(pos + 0.35)}}
				vsty.XAlign, vsty.YAlign = draw.XLeft, draw.YCenter
				at = vg.Point{X: r.Max.X + px(4), Y: (r.Min.Y + r.Max.Y) / 2}
			} else {
				r = vg.Rectangle{Min: vg.Point{X: x(float64(i) - 0.35), Y: y(math.Min(0, b.Value))}, Max: vg.Point{X: x(float64(i) + 0.35), Y: y(math.Max(0, b.Value))}}
				vsty.XAlign, vsty.YAlign = draw.XCenter, draw.YBottom
				at = vg.Point{X: (r.Min.X + r.Max.X) / 2, Y: r.Max.Y + px(2)}
			}
			c.FillPolygon(col, c.ClipPolygonXY(rectPoints(r)))
			c.FillText(vsty, at, formatValue(b.Value, ch.Unit, false))
		}
	}))
	p.Draw(dc)
}

func rectPoints(r vg.Rectangle) []vg.Point {
	return []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}}
}

func barSeries(bars []Bar) []Series {
	s := make([]Series, len(bars))
	for i, b := range bars {
		s[i].Name = b.Label
	}
	return s
}

// truncate shortens s to n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}

// pdfCanvas fixes translucent colours for vgpdf, which takes the
// premultiplied components of color.RGBA() as the colour and so darkens
// every translucent fill.
type pdfCanvas struct{ *vgpdf.Canvas }

func (c pdfCanvas) SetColor(clr color.Color) {
	if clr == nil {
		clr = color.Black
	}
	c.Canvas.SetColor(straightColor(color.NRGBAModel.Convert(clr).(color.NRGBA)))
}

// FillString hands vgpdf the text in Windows-1252, the encoding it embeds
// fonts with (it writes UTF-8 bytes as is, so "…" or "µs" came out as
// mojibake); characters outside it become "?".
func (c pdfCanvas) FillString(f font.Face, pt vg.Point, s string) {
	enc, err := encoding.ReplaceUnsupported(charmap.Windows1252.NewEncoder()).String(s)
	if err != nil {
		enc = s
	}
	c.Canvas.FillString(f, pt, enc)
}

// straightColor reports non-premultiplied components from RGBA, which is
// what vgpdf expects; it is only ever handed to vgpdf.
type straightColor color.NRGBA

func (s straightColor) RGBA() (r, g, b, a uint32) {
	return uint32(s.R) * 0x101, uint32(s.G) * 0x101, uint32(s.B) * 0x101, uint32(s.A) * 0x101
}
