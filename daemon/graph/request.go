package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/timespec"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// Options configures Graphs. Any source may be nil.
type Options struct {
	Trend SeriesSource
	Tree  TreeSource
	// Location is the time zone of time axes (default: the machine's).
	Location *time.Location
	// Now is the clock (tests).
	Now func() time.Time
}

// Graphs draws the graphs of GET /graph/NAME[.png|.jpg|.svg|.pdf]. NAME is
// a saved view or a key (wildcards: one series per match). Parameters:
//
//	from, until  time range as GET /trend: now, -15min, -6h, -1d, -1w,
//	             -1mon, -1y, Unix seconds or ms, RFC 3339, YYYYMMDD
//	             (default -1d … now, or the view's range)
//	width,height pixels, 64 … 4000 (default 800×300; less is raised to 64,
//	             more is refused)
//	type         line | bar | area | stacked (default: the style's)
//	style        default | cpu | net | url
//	theme        light | dark
//	title        text above the chart (default NAME; empty for none)
//	fn           avg | max | min | sum | last | rate, as GET /trend
//	unit         none | bytes | bytes/s | seconds | percent | per_second
//	format       png | jpg | svg | pdf, instead of the extension
//	tz           time zone of the time axis, e.g. Europe/Berlin (default:
//	             the daemon's)
//
// Unknown values are errors that list the valid ones. Without history the
// current tree under NAME is drawn as bars; with nothing at all, a "no
// data" image.
type Graphs struct {
	opt Options
	r   *Renderer
}

// New returns Graphs drawing from opt's sources.
func New(opt Options) *Graphs {
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Graphs{opt: opt, r: NewRenderer()}
}

// Request is one graph to draw: read by Parse, maybe changed by UseView,
// drawn by Draw.
type Request struct {
	// Name is the key or view named, without the image extension.
	Name   string
	Format Format
	// Keys are the keys drawn: Name, or a view's keys.
	Keys        []string
	chart       Chart
	from, until time.Time
	fn          string
	fromSet     bool // from given: a view's range does not override it
}

// UseView draws v's keys for req, in v's chart type and range unless req
// names its own.
func (g *Graphs) UseView(req *Request, v View) {
	req.Keys = v.Keys
	if req.chart.Type == "" {
		req.chart.Type = v.Type
	}
	if v.From != "" && !req.fromSet {
		if f, err := timespec.ParseTimeOr(v.From, g.opt.Now(), req.from, nil); err == nil && f.Before(req.until) {
			req.from = f
			req.chart.From = f.UnixMilli()
		}
	}
}

// CheckKeys tells whether every key of req is a valid pattern.
func (req *Request) CheckKeys() error {
	for _, k := range req.Keys {
		if _, err := key.Parse(k); err != nil {
			return fmt.Errorf("bad key %q: %w", k, err)
		}
	}
	return nil
}

// Draw draws req (its keys checked by CheckKeys) to w in req.Format.
func (g *Graphs) Draw(ctx context.Context, w io.Writer, req *Request) error {
	ch := req.chart // a request can be drawn more than once
	if g.opt.Trend != nil {
		points := ClampSize(ch.Width, DefaultWidth)
		for _, k := range req.Keys {
			series, markers, err := g.opt.Trend.Series(ctx, k, req.from, req.until, points, req.fn)
			if err != nil {
				return fmt.Errorf("cannot read the history of %q: %w", k, err)
			}
			ch.Series = append(ch.Series, series...)
			for _, m := range markers { // keys of one view may share markers
				if !slices.Contains(ch.Markers, m) {
					ch.Markers = append(ch.Markers, m)
				}
			}
		}
	}
	if len(usableSeries(ch.Series)) == 0 && g.opt.Tree != nil {
		// No history: bars of what the tree holds now.
		for _, k := range req.Keys {
			p, err := key.Parse(k)
			if err != nil {
				return fmt.Errorf("bad key %q: %w", k, err)
			}
			for _, e := range g.opt.Tree.Get(p) {
				if !e.IsMarker {
					ch.Bars = append(ch.Bars, Bar{Label: e.Key, Value: e.Value})
				}
			}
		}
	}
	if err := g.r.Render(w, &ch, req.Format); err != nil {
		return fmt.Errorf("cannot draw %q: %w", req.Name, err)
	}
	return nil
}

// Parse reads a graph's name (a key or view, maybe with an image
// extension) and its parameters.
func (g *Graphs) Parse(name string, q url.Values) (*Request, error) {
	req := &Request{}
	var err error
	if f := q.Get("format"); f != "" {
		if req.Format, err = ParseFormat(f); err != nil {
			return nil, err
		}
	} else {
		name, req.Format = splitFormat(name)
	}
	if name == "" {
		return nil, errors.New("no key or view: want /graph/NAME[.png|.jpg|.svg|.pdf]")
	}
	req.Name, req.Keys = name, []string{name}
	ch := &req.chart
	ch.Location = g.opt.Location
	if tz := q.Get("tz"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" {
			return nil, fmt.Errorf("unknown tz %q: want an IANA time zone such as UTC or Europe/Berlin", tz)
		}
		ch.Location = loc
	}
	if ch.Style, err = ParseStyle(q.Get("style")); err != nil {
		return nil, err
	}
	if ch.Type, err = ParseType(q.Get("type")); err != nil {
		return nil, err
	}
	if ch.Theme, err = ParseTheme(q.Get("theme")); err != nil {
		return nil, err
	}
	if ch.Unit, err = ParseUnit(q.Get("unit")); err != nil {
		return nil, err
	}
	if ch.Width, err = parseSize("width", q.Get("width"), DefaultWidth); err != nil {
		return nil, err
	}
	if ch.Height, err = parseSize("height", q.Get("height"), DefaultHeight); err != nil {
		return nil, err
	}
	if _, err := trend.ParseFn(q.Get("fn")); err != nil {
		return nil, err
	}
	req.fn = q.Get("fn")
	now := g.opt.Now()
	// Times read as GET /trend reads them.
	if req.until, err = timespec.ParseTimeOr(q.Get("until"), now, now, nil); err != nil {
		return nil, fmt.Errorf("until: %w", err)
	}
	req.fromSet = q.Get("from") != ""
	if req.from, err = timespec.ParseTimeOr(q.Get("from"), now, now.AddDate(0, 0, -1), nil); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if !req.from.Before(req.until) {
		return nil, fmt.Errorf("from (%s) is not before until (%s)", req.from.UTC().Format(time.RFC3339), req.until.UTC().Format(time.RFC3339))
	}
	ch.From, ch.Until = req.from.UnixMilli(), req.until.UnixMilli()
	if _, ok := q["title"]; ok {
		ch.Title = q.Get("title")
	} else {
		ch.Title = name
	}
	return req, nil
}

// splitFormat takes a known image extension off name; anything else
// (e.g. the ".html" of a URL key) is part of the name.
func splitFormat(name string) (string, Format) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return name, FormatPNG
	}
	switch strings.ToLower(name[i+1:]) {
	case "png":
		return name[:i], FormatPNG
	case "jpg", "jpeg":
		return name[:i], FormatJPEG
	case "svg":
		return name[:i], FormatSVG
	case "pdf":
		return name[:i], FormatPDF
	}
	return name, FormatPNG
}

func parseSize(what, s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > MaxSize {
		// Larger is refused rather than clamped: the caller learns the
		// cap instead of getting a picture of another size.
		return 0, fmt.Errorf("%s %q: want a number of pixels (%d to %d)", what, s, MinSize, MaxSize)
	}
	return ClampSize(n, def), nil
}
