package graph

import (
	"image/color"
	"strconv"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// legendLayout places swatch + name entries left to right in rows under
// the plot, using at most a third of the chart's height; entries that do
// not fit are summed up as "+N more".
type legendLayout struct {
	height  vg.Length
	entries []legendEntry
}

type legendEntry struct {
	text  string
	color color.Color
	at    vg.Point // swatch's bottom left, relative to the canvas's bottom left
}

func layoutLegend(layers []layer, dc draw.Canvas, ch *Chart) legendLayout {
	if len(layers) == 0 {
		return legendLayout{}
	}
	sty := textStyle(regularFont, legendPt, nil)
	rowH := px(16)
	sw := px(10)
	gap := px(14)
	width := dc.Max.X - dc.Min.X
	maxRows := max0(int(float64(px(float64(ch.Height)/3))/float64(rowH)), 1)

	var out legendLayout
	row, x := 0, vg.Length(0)
	for _, l := range layers {
		w := sw + px(4) + sty.Width(l.name)
		if x > 0 && x+w > width {
			row++
			x = 0
		}
		if row >= maxRows {
			break
		}
		out.entries = append(out.entries, legendEntry{text: l.name, color: l.color, at: vg.Point{X: x, Y: vg.Length(row)}})
		x += w + gap
	}
	if n := len(layers) - len(out.entries); n > 0 {
		// Replace the last entry of the last row by the count of hidden ones.
		last := &out.entries[len(out.entries)-1]
		last.text = "+" + strconv.Itoa(n+1) + " more"
		last.color = nil
	}
	rows := 0
	for _, e := range out.entries {
		rows = max0(rows, int(e.at.Y)+1)
	}
	out.height = vg.Length(rows)*rowH + px(4)
	// Rows are counted from the top of the legend area.
	for i := range out.entries {
		out.entries[i].at.Y = out.height - px(4) - (out.entries[i].at.Y+1)*rowH
	}
	return out
}

func (l legendLayout) draw(dc draw.Canvas, pal palette) {
	sty := textStyle(regularFont, legendPt, pal.fg)
	sty.YAlign = draw.YCenter
	sw := px(10)
	for _, e := range l.entries {
		at := vg.Point{X: dc.Min.X + e.at.X, Y: dc.Min.Y + e.at.Y}
		mid := at.Y + px(8)
		tx := at.X
		if e.color != nil {
			dc.FillPolygon(e.color, rectPoints(vg.Rectangle{
				Min: vg.Point{X: at.X, Y: mid - sw/2}, Max: vg.Point{X: at.X + sw, Y: mid + sw/2}}))
			tx += sw + px(4)
		}
		dc.FillText(sty, vg.Point{X: tx, Y: mid}, e.text)
	}
}
