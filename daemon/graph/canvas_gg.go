package graph

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"git.sr.ht/~sbinet/gg"
	xfont "golang.org/x/image/font"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
)

// ggCanvas is a vg.Canvas that rasterizes with sbinet/gg, the maintained
// fork of fogleman/gg that gonum/plot links already. Unlike plot's vgimg
// it keeps one font face per font and size for the whole drawing (vgimg
// builds a new face, with an empty glyph cache, for every string), which
// is most of the difference in speed.
type ggCanvas struct {
	ctx   *gg.Context
	w, h  vg.Length
	dpi   float64
	width vg.Length
	faces map[font.Font]xfont.Face
	color []color.Color // current colour on top; Push/Pop follow gg's stack
}

var _ vg.CanvasSizer = (*ggCanvas)(nil)

// newGGCanvas returns a canvas drawing on im, first filled with bg, where a
// point is dpi/72 pixels.
func newGGCanvas(im *image.RGBA, dpi float64, bg color.Color) *ggCanvas {
	wpx, hpx := im.Rect.Dx(), im.Rect.Dy()
	ctx := gg.NewContextForRGBA(im)
	ctx.SetColor(bg)
	ctx.Clear()
	ctx.SetLineCapButt()
	// vg's origin is the bottom left corner.
	ctx.InvertY()
	c := &ggCanvas{
		ctx:   ctx,
		w:     vg.Length(float64(wpx) / dpi * vg.Inch.Points()),
		h:     vg.Length(float64(hpx) / dpi * vg.Inch.Points()),
		dpi:   dpi,
		faces: make(map[font.Font]xfont.Face),
		color: []color.Color{color.Black},
	}
	vg.Initialize(c)
	return c
}

func (c *ggCanvas) image() *image.RGBA { return c.ctx.Image().(*image.RGBA) }

func (c *ggCanvas) close() {
	for _, f := range c.faces {
		f.Close()
	}
}

func (c *ggCanvas) Size() (w, h vg.Length) { return c.w, c.h }

func (c *ggCanvas) dots(l vg.Length) float64 { return l.Dots(c.dpi) }

func (c *ggCanvas) SetLineWidth(w vg.Length) {
	c.width = w
	c.ctx.SetLineWidth(c.dots(w))
}

func (c *ggCanvas) SetLineDash(ds []vg.Length, offs vg.Length) {
	dashes := make([]float64, len(ds))
	for i, d := range ds {
		dashes[i] = c.dots(d)
	}
	c.ctx.SetDash(dashes...)
	c.ctx.SetDashOffset(c.dots(offs))
}

func (c *ggCanvas) SetColor(clr color.Color) {
	if clr == nil {
		clr = color.Black
	}
	c.ctx.SetColor(clr)
	c.color[len(c.color)-1] = clr
}

func (c *ggCanvas) Rotate(t float64)      { c.ctx.Rotate(t) }
func (c *ggCanvas) Translate(pt vg.Point) { c.ctx.Translate(c.dots(pt.X), c.dots(pt.Y)) }
func (c *ggCanvas) Scale(x, y float64)    { c.ctx.Scale(x, y) }

func (c *ggCanvas) Push() {
	c.color = append(c.color, c.color[len(c.color)-1])
	c.ctx.Push()
}

func (c *ggCanvas) Pop() {
	c.color = c.color[:len(c.color)-1]
	c.ctx.Pop()
}

func (c *ggCanvas) Stroke(p vg.Path) {
	if c.width <= 0 {
		return
	}
	c.outline(p)
	c.ctx.Stroke()
}

func (c *ggCanvas) Fill(p vg.Path) {
	if r, ok := c.deviceRect(p); ok {
		// Bars, swatches, ranges and backgrounds: axis-aligned rectangles
		// snapped to whole pixels, drawn without the rasterizer (crisp
		// edges, and a tenth of the time for a large area).
		draw.Draw(c.image(), r, image.NewUniform(c.color[len(c.color)-1]), image.Point{}, draw.Over)
		return
	}
	c.outline(p)
	c.ctx.Fill()
}

// unflipped reports whether the transform is just the initial y flip, so
// user space maps to pixels by a translation.
func (c *ggCanvas) unflipped() bool {
	x0, y0 := c.ctx.TransformPoint(0, 0)
	ax, ay := c.ctx.TransformPoint(1, 0)
	bx, by := c.ctx.TransformPoint(0, 1)
	return ax-x0 == 1 && ay == y0 && bx == x0 && by-y0 == -1
}

// deviceRect returns the pixel rectangle of p when p is an axis-aligned
// rectangle (move, three lines, optional close) under an unflipped transform.
func (c *ggCanvas) deviceRect(p vg.Path) (image.Rectangle, bool) {
	if len(p) < 4 || len(p) > 6 || p[0].Type != vg.MoveComp || !c.unflipped() {
		return image.Rectangle{}, false
	}
	var pts [4]vg.Point
	n := 0
	for i, comp := range p {
		switch {
		case i > 0 && i < 4 && comp.Type == vg.LineComp, i == 0:
			pts[n] = comp.Pos
			n++
		case i >= 4 && comp.Type == vg.CloseComp:
		case i == 4 && comp.Type == vg.LineComp && comp.Pos == pts[0]:
		default:
			return image.Rectangle{}, false
		}
	}
	horiz := pts[0].Y == pts[1].Y && pts[1].X == pts[2].X && pts[2].Y == pts[3].Y && pts[3].X == pts[0].X
	vert := pts[0].X == pts[1].X && pts[1].Y == pts[2].Y && pts[2].X == pts[3].X && pts[3].Y == pts[0].Y
	if !horiz && !vert {
		return image.Rectangle{}, false
	}
	x0, y0 := c.ctx.TransformPoint(c.dots(pts[0].X), c.dots(pts[0].Y))
	x1, y1 := c.ctx.TransformPoint(c.dots(pts[2].X), c.dots(pts[2].Y))
	r := image.Rect(int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x1)), int(math.Round(y1)))
	return r.Intersect(c.image().Bounds()), true
}

func (c *ggCanvas) outline(p vg.Path) {
	for _, comp := range p {
		switch comp.Type {
		case vg.MoveComp:
			c.ctx.MoveTo(c.dots(comp.Pos.X), c.dots(comp.Pos.Y))
		case vg.LineComp:
			c.ctx.LineTo(c.dots(comp.Pos.X), c.dots(comp.Pos.Y))
		case vg.ArcComp:
			c.ctx.DrawArc(c.dots(comp.Pos.X), c.dots(comp.Pos.Y), c.dots(comp.Radius),
				comp.Start, comp.Start+comp.Angle)
		case vg.CurveComp:
			switch len(comp.Control) {
			case 1:
				c.ctx.QuadraticTo(c.dots(comp.Control[0].X), c.dots(comp.Control[0].Y),
					c.dots(comp.Pos.X), c.dots(comp.Pos.Y))
			case 2:
				c.ctx.CubicTo(c.dots(comp.Control[0].X), c.dots(comp.Control[0].Y),
					c.dots(comp.Control[1].X), c.dots(comp.Control[1].Y),
					c.dots(comp.Pos.X), c.dots(comp.Pos.Y))
			default:
				panic(fmt.Sprintf("graph: curve with %d control points", len(comp.Control)))
			}
		case vg.CloseComp:
			c.ctx.ClosePath()
		default:
			panic(fmt.Sprintf("graph: unknown path component %d", comp.Type))
		}
	}
}

func (c *ggCanvas) FillString(f font.Face, pt vg.Point, str string) {
	if f.Font.Size == 0 {
		return
	}
	face, ok := c.faces[f.Font]
	if !ok {
		face = f.FontFace(c.dpi)
		c.faces[f.Font] = face
	}
	x, y := c.dots(pt.X), c.dots(pt.Y)
	// Unrotated text (all of ours) goes straight through font.Drawer onto
	// whole-pixel glyph masks: crisp, and much faster than gg's per-glyph
	// bilinear transform, which also smears neighbouring mask pixels in.
	if c.unflipped() {
		dx, dy := c.ctx.TransformPoint(x, y)
		d := xfont.Drawer{
			Dst:  c.image(),
			Src:  image.NewUniform(c.color[len(c.color)-1]),
			Face: face,
			Dot:  fixed.Point26_6{X: fixed.Int26_6(math.Round(dx * 64)), Y: fixed.Int26_6(math.Round(dy * 64))},
		}
		d.DrawString(str)
		return
	}
	c.ctx.Push()
	defer c.ctx.Pop()
	c.ctx.SetFontFace(face)
	// Text is drawn with y down: undo the flip around the text's baseline.
	c.ctx.Translate(x, y)
	c.ctx.Scale(1, -1)
	c.ctx.DrawString(str, 0, 0)
}

func (c *ggCanvas) DrawImage(rect vg.Rectangle, img image.Image) {
	x, y := c.dots(rect.Min.X), c.dots(rect.Min.Y)
	sz := rect.Size()
	w, h := c.dots(sz.X), c.dots(sz.Y)
	dx, dy := float64(img.Bounds().Dx()), float64(img.Bounds().Dy())
	c.ctx.Push()
	c.ctx.Translate(x, y+h)
	c.ctx.Scale(w/dx, -h/dy)
	c.ctx.DrawImage(img, 0, 0)
	c.ctx.Pop()
}
