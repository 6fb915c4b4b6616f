package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

var testNow = time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)

// fakeTrend answers every key with the fixture series whose names match it.
type fakeTrend struct {
	mu      sync.Mutex
	series  []Series
	markers []Marker
	asked   []string
	err     error
}

func (f *fakeTrend) Series(_ context.Context, k string, from, until time.Time, points int, fn string) ([]Series, []Marker, error) {
	f.mu.Lock()
	f.asked = append(f.asked, k)
	f.mu.Unlock()
	if f.err != nil {
		return nil, nil, f.err
	}
	p, err := key.Parse(k)
	if err != nil {
		return nil, nil, err
	}
	// Match by putting the names in a tree: the same wildcard rules.
	t := tree.New()
	for _, s := range f.series {
		parts, _ := key.Split(s.Name)
		if _, err := t.Apply([]tree.Delta{{Path: parts, Value: 1}}); err != nil {
			return nil, nil, err
		}
	}
	var out []Series
	for _, e := range t.Get(p) {
		for _, s := range f.series {
			if s.Name == e.Key {
				out = append(out, s)
			}
		}
	}
	return out, f.markers, nil
}

func newTestGraphs(opt Options) *Graphs {
	opt.Now = func() time.Time { return testNow }
	opt.Location = time.UTC
	return New(opt)
}

// drawTarget reads target ("/graph/NAME?QUERY") and draws it as GET /graph
// does; views are the saved views.
func drawTarget(g *Graphs, target string, views map[string]View) ([]byte, error) {
	name, query, _ := strings.Cut(strings.TrimPrefix(target, "/graph/"), "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	req, err := g.Parse(name, q)
	if err != nil {
		return nil, err
	}
	if v, ok := views[req.Name]; ok {
		g.UseView(req, v)
	}
	if err := req.CheckKeys(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := g.Draw(context.Background(), &buf, req); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func mustDraw(t *testing.T, g *Graphs, target string, views map[string]View) []byte {
	t.Helper()
	body, err := drawTarget(g, target, views)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	return body
}

func svgTexts(t *testing.T, body []byte) []string {
	t.Helper()
	texts, _, _ := svgContent(t, body)
	return texts
}

func TestDrawFormats(t *testing.T) {
	src := &fakeTrend{series: fixtures()["cpu"].Series}
	g := newTestGraphs(Options{Trend: src})
	tests := []struct {
		target, magic string
	}{
		{"/graph/cpu,10.3.1.12,*", "\x89PNG"},
		{"/graph/cpu,10.3.1.12,*.png?style=cpu", "\x89PNG"},
		{"/graph/cpu,10.3.1.12,*.jpg?style=cpu", "\xff\xd8\xff"},
		{"/graph/cpu,10.3.1.12,*.jpeg", "\xff\xd8\xff"},
		{"/graph/cpu,10.3.1.12,*.svg?theme=dark", "<?xml"},
		{"/graph/cpu,10.3.1.12,*.pdf?type=line", "%PDF-"},
		{"/graph/cpu,10.3.1.12,*?format=svg", "<?xml"},
		{"/graph/cpu,10.3.1.12,*.png?tz=Asia/Tokyo", "\x89PNG"},
	}
	for _, tc := range tests {
		body, err := drawTarget(g, tc.target, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.target, err)
			continue
		}
		if !bytes.HasPrefix(body, []byte(tc.magic)) {
			t.Errorf("%s: body starts %.8q, want %q", tc.target, body, tc.magic)
		}
	}
}

func TestParseBadInput(t *testing.T) {
	g := newTestGraphs(Options{Trend: &fakeTrend{}})
	tests := []struct {
		target string
		want   []string // in the error message
	}{
		{"/graph/a?style=pie", []string{`unknown style "pie"`, "default, cpu, net, url"}},
		{"/graph/a?type=donut", []string{`unknown type "donut"`, "line, bar, area, stacked"}},
		{"/graph/a?theme=pink", []string{`unknown theme "pink"`, "light, dark"}},
		{"/graph/a?format=gif", []string{`unknown format "gif"`, "png, jpg, svg, pdf"}},
		{"/graph/a?unit=furlongs", []string{`unknown unit "furlongs"`, "bytes"}},
		{"/graph/a?width=wide", []string{`width "wide"`}},
		{"/graph/a?height=-", []string{`height "-"`}},
		{"/graph/a?fn=median", []string{`unknown fn "median"`}},
		{"/graph/a?from=someday", []string{"from:", `"someday"`}},
		{"/graph/a?until=-1x", []string{"until:", `invalid offset unit 'x'`}},
		{"/graph/a?from=now&until=-1h", []string{"is not before until"}},
		{"/graph/", []string{"no key or view"}},
		{"/graph/a?tz=Mars/Olympus", []string{`unknown tz "Mars/Olympus"`}},
		{"/graph/a,[b", []string{"bad key", "unclosed ["}},
	}
	for _, tc := range tests {
		_, err := drawTarget(g, tc.target, nil)
		if err == nil {
			t.Errorf("%s: drawn, want an error", tc.target)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not say %q", tc.target, err, s)
			}
		}
	}
}

// TestDrawSizeClamped: small sizes are raised to MinSize; sizes over
// MaxSize are refused (a 400 naming the range), never drawn.
func TestDrawSizeClamped(t *testing.T) {
	g := newTestGraphs(Options{})
	for _, q := range []string{"width=5000&height=100", "width=1&height=99999", "width=100000&height=100000"} {
		u, _ := url.Parse("/graph/x.png?" + q)
		if _, err := g.Parse("x.png", u.Query()); err == nil || !strings.Contains(err.Error(), "want a number of pixels (64 to 4000)") {
			t.Errorf("%s: got %v, want a refusal naming the range", q, err)
		}
	}
	tests := []struct {
		query string
		w, h  int
	}{
		{"", DefaultWidth, DefaultHeight},
		{"width=4000&height=100", MaxSize, 100},
		{"width=1&height=4000", MinSize, MaxSize},
		{"width=320&height=0", 320, DefaultHeight},
	}
	for _, tc := range tests {
		body := mustDraw(t, g, "/graph/x.png?"+tc.query, nil)
		cfg, err := png.DecodeConfig(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Width != tc.w || cfg.Height != tc.h {
			t.Errorf("%s: image is %d×%d, want %d×%d", tc.query, cfg.Width, cfg.Height, tc.w, tc.h)
		}
	}
}

func TestDrawNoData(t *testing.T) {
	g := newTestGraphs(Options{Trend: &fakeTrend{}, Tree: tree.New()})
	body := mustDraw(t, g, "/graph/nothing,here.svg", nil)
	if texts := svgTexts(t, body); !slices.Contains(texts, "no data") {
		t.Errorf("empty result does not say no data: %q", texts)
	}
}

func TestDrawTreeFallback(t *testing.T) {
	tr := tree.New()
	if _, err := push.Merge(tr, []byte(`{"br": {"ie": {"6": 3, "7": {"": 8, "venders": {"sogou": 2}}}, "webkit": {"14.0": 40}}, "defaultaction": "add"}`)); err != nil {
		t.Fatal(err)
	}
	g := newTestGraphs(Options{Trend: &fakeTrend{}, Tree: tr})
	texts := svgTexts(t, mustDraw(t, g, "/graph/br.svg", nil))
	for _, want := range []string{"br", "ie,6", "ie,7", "ie,7,venders,sogou", "webkit,14.0", "40"} {
		if !slices.Contains(texts, want) {
			t.Errorf("tree bars lack %q: %q", want, texts)
		}
	}
}

func TestDrawWildcardAndView(t *testing.T) {
	src := &fakeTrend{series: fixtures()["net"].Series, markers: []Marker{{From: testNow.Add(-time.Hour).UnixMilli(), Text: "shared"}}}
	views := map[string]View{"traffic": {Keys: []string{"net,eth0,in", "net,eth0,out"}, Type: TypeLine, From: "-2h"}}
	g := newTestGraphs(Options{Trend: src})

	texts := svgTexts(t, mustDraw(t, g, "/graph/net,eth0,*.svg?style=net", views))
	for _, want := range []string{"in", "out", "net,eth0,*"} {
		if !slices.Contains(texts, want) {
			t.Errorf("wildcard graph lacks %q: %q", want, texts)
		}
	}

	src.asked = nil
	texts = svgTexts(t, mustDraw(t, g, "/graph/traffic.svg?title=Traffic", views))
	if want := []string{"net,eth0,in", "net,eth0,out"}; !slices.Equal(src.asked, want) {
		t.Errorf("view queried %q, want %q", src.asked, want)
	}
	if !slices.Contains(texts, "Traffic") {
		t.Errorf("view graph lacks its title: %q", texts)
	}
	if n := strings.Count(strings.Join(texts, "|"), "shared"); n != 1 {
		t.Errorf("a marker both keys share is drawn %d times, want once", n)
	}
	// The view's range (-2h before testNow, 15:00) sets the time axis.
	if !slices.Contains(texts, "13:30") || slices.Contains(texts, "Nov 20") {
		t.Errorf("view graph does not span the view's 2 hours: %q", texts)
	}
	// A from in the request wins over the view's.
	texts = svgTexts(t, mustDraw(t, g, "/graph/traffic.svg?from=-1d", views))
	if !slices.Contains(texts, "Nov 20") {
		t.Errorf("from=-1d does not span a day: %q", texts)
	}
}

func TestDrawTrendError(t *testing.T) {
	g := newTestGraphs(Options{Trend: &fakeTrend{err: errors.New("storage gone")}})
	if _, err := drawTarget(g, "/graph/a.png", nil); err == nil || !strings.Contains(err.Error(), "storage gone") {
		t.Errorf("error %v, want one naming the cause", err)
	}
}

func TestSplitFormat(t *testing.T) {
	tests := []struct {
		in, name string
		f        Format
	}{
		{"br", "br", FormatPNG},
		{"br.svg", "br", FormatSVG},
		{"br.JPG", "br", FormatJPEG},
		{"url,/index.html", "url,/index.html", FormatPNG},
		{"url,/logo.png.pdf", "url,/logo.png", FormatPDF},
		{"webkit,14.0", "webkit,14.0", FormatPNG},
	}
	for _, tc := range tests {
		name, f := splitFormat(tc.in)
		if name != tc.name || f != tc.f {
			t.Errorf("splitFormat(%q) = %q, %q; want %q, %q", tc.in, name, f, tc.name, tc.f)
		}
	}
}

// FuzzGraphQuery feeds arbitrary names and query strings to the request
// parser: it may refuse them, never panic, and what it accepts is sane.
func FuzzGraphQuery(f *testing.F) {
	for _, s := range []string{
		"br?style=cpu&type=stacked&width=800&height=300",
		"net,eth0,*.svg?from=-1d&until=now&theme=dark&fn=rate",
		"x.pdf?width=99999&height=-5&title=",
		"a?from=20261120&until=1763650800",
		"a?style=%00&type=\xff",
	} {
		f.Add(s)
	}
	g := newTestGraphs(Options{})
	f.Fuzz(func(t *testing.T, s string) {
		name, query, _ := strings.Cut(s, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req, err := g.Parse(name, q)
		if err != nil {
			return
		}
		if req.Name == "" || req.chart.Width < MinSize || req.chart.Width > MaxSize || req.chart.Height < MinSize || req.chart.Height > MaxSize {
			t.Fatalf("accepted %q as %+v", s, req)
		}
		if !req.from.Before(req.until) {
			t.Fatalf("accepted %q with from %v not before until %v", s, req.from, req.until)
		}
	})
}

func TestDrawTimeZone(t *testing.T) {
	src := &fakeTrend{series: fixtures()["default"].Series}
	g := newTestGraphs(Options{Trend: src})
	from := fixtureStart / 1000
	for _, tc := range []struct{ tz, want string }{{"UTC", "12:00"}, {"Asia/Tokyo", "21:00"}} {
		body := mustDraw(t, g, fmt.Sprintf("/graph/upstream,time,*.svg?from=%d&until=%d&tz=%s", from, from+6*3600, tc.tz), nil)
		if texts := svgTexts(t, body); !slices.Contains(texts, tc.want) {
			t.Errorf("tz=%s: no tick %q: %q", tc.tz, tc.want, texts)
		}
	}
}
