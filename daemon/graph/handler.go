package graph

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// Options configures a Handler. Any source may be nil.
type Options struct {
	Trend SeriesSource
	Tree  TreeSource
	Views ViewSource
	// Location is the time zone of time axes (default: the machine's).
	Location *time.Location
	// Now is the clock (tests).
	Now func() time.Time
}

// Handler serves GET /graph/NAME[.png|.jpg|.svg|.pdf]. NAME is a saved
// view of the requesting user or a key (wildcards: one series per match).
// Query parameters:
//
//	from, until  time range as GET /trend: now, -15min, -6h, -1d, -1w,
//	             -1mon, -1y, Unix seconds or ms, RFC 3339, YYYYMMDD
//	             (default -1d … now, or the view's range)
//	width,height pixels, clamped to 64 … 4000 (default 800×300)
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
// Unknown values are 400 errors that list the valid ones. Without history
// the current tree under NAME is drawn as bars; with nothing at all, a
// "no data" image.
type Handler struct {
	opt Options
	r   *Renderer
}

// New returns a Handler.
func New(opt Options) *Handler {
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Handler{opt: opt, r: NewRenderer()}
}

// Routes registers GET /graph/*name.
func (h *Handler) Routes(r gin.IRouter) {
	r.GET("/graph/*name", h.serve)
}

// request is a parsed /graph request.
type request struct {
	name        string
	format      Format
	chart       Chart
	from, until time.Time
	fn          string
}

func (h *Handler) serve(c *gin.Context) {
	req, err := h.parse(c.Param("name"), c.Request.URL.Query())
	if err != nil {
		c.String(http.StatusBadRequest, "%s\n", err)
		return
	}
	keys := []string{req.name}
	if h.opt.Views != nil {
		v, ok, err := h.opt.Views.GraphView(c.Request, req.name)
		if err != nil {
			c.String(http.StatusInternalServerError, "cannot read view %q: %s\n", req.name, err)
			return
		}
		if ok {
			keys = v.Keys
			if req.chart.Type == "" {
				req.chart.Type = v.Type
			}
			if v.From != "" && c.Query("from") == "" {
				if f, err := trend.ParseTime(v.From, h.opt.Now(), req.from); err == nil && f.Before(req.until) {
					req.from = f
					req.chart.From = f.UnixMilli()
				}
			}
		}
	}
	for _, k := range keys {
		if _, err := tree.ParsePattern(k); err != nil {
			c.String(http.StatusBadRequest, "bad key %q: %s\n", k, err)
			return
		}
	}
	ch := &req.chart
	if h.opt.Trend != nil {
		points := ClampSize(ch.Width, DefaultWidth)
		for _, k := range keys {
			series, markers, err := h.opt.Trend.Series(c.Request.Context(), k, req.from, req.until, points, req.fn)
			if err != nil {
				c.String(http.StatusInternalServerError, "cannot read the history of %q: %s\n", k, err)
				return
			}
			ch.Series = append(ch.Series, series...)
			for _, m := range markers { // keys of one view may share markers
				if !slices.Contains(ch.Markers, m) {
					ch.Markers = append(ch.Markers, m)
				}
			}
		}
	}
	if len(usableSeries(ch.Series)) == 0 && h.opt.Tree != nil {
		// No history: bars of what the tree holds now.
		for _, k := range keys {
			p, _ := tree.ParsePattern(k)
			for _, e := range h.opt.Tree.Get(p) {
				if !e.IsMarker {
					ch.Bars = append(ch.Bars, Bar{Label: e.Key, Value: e.Value})
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := h.r.Render(&buf, ch, req.format); err != nil {
		c.String(http.StatusInternalServerError, "cannot draw %q: %s\n", req.name, err)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, req.format.ContentType(), buf.Bytes())
}

// parse reads the path and query of a /graph request.
func (h *Handler) parse(path string, q url.Values) (*request, error) {
	name := strings.TrimPrefix(path, "/")
	req := &request{}
	var err error
	if f := q.Get("format"); f != "" {
		if req.format, err = ParseFormat(f); err != nil {
			return nil, err
		}
	} else {
		name, req.format = splitFormat(name)
	}
	if name == "" {
		return nil, errors.New("no key or view: want /graph/NAME[.png|.jpg|.svg|.pdf]")
	}
	req.name = name
	ch := &req.chart
	ch.Location = h.opt.Location
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
	now := h.opt.Now()
	// Times read as GET /trend reads them.
	if req.until, err = trend.ParseTime(q.Get("until"), now, now); err != nil {
		return nil, fmt.Errorf("until: %w", err)
	}
	if req.from, err = trend.ParseTime(q.Get("from"), now, now.AddDate(0, 0, -1)); err != nil {
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
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a number of pixels (%d to %d)", what, s, MinSize, MaxSize)
	}
	return ClampSize(n, def), nil
}
