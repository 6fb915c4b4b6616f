package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

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

func (f *fakeTrend) Series(_ context.Context, key string, from, until time.Time, points int, fn string) ([]Series, []Marker, error) {
	f.mu.Lock()
	f.asked = append(f.asked, key)
	f.mu.Unlock()
	if f.err != nil {
		return nil, nil, f.err
	}
	p, err := tree.ParsePattern(key)
	if err != nil {
		return nil, nil, err
	}
	// Match by putting the names in a tree: the same wildcard rules.
	t := tree.New()
	for _, s := range f.series {
		parts, _ := tree.SplitKey(s.Name)
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

func newTestServer(t *testing.T, opt Options) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	opt.Now = func() time.Time { return testNow }
	opt.Location = time.UTC
	New(opt).Routes(r)
	return r
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func svgTexts(t *testing.T, body []byte) []string {
	t.Helper()
	texts, _, _ := svgContent(t, body)
	return texts
}

func TestHandlerFormats(t *testing.T) {
	src := &fakeTrend{series: fixtures()["cpu"].Series}
	h := newTestServer(t, Options{Trend: src})
	tests := []struct {
		target, ctype, magic string
	}{
		{"/graph/cpu,10.3.1.12,*", "image/png", "\x89PNG"},
		{"/graph/cpu,10.3.1.12,*.png?style=cpu", "image/png", "\x89PNG"},
		{"/graph/cpu,10.3.1.12,*.jpg?style=cpu", "image/jpeg", "\xff\xd8\xff"},
		{"/graph/cpu,10.3.1.12,*.jpeg", "image/jpeg", "\xff\xd8\xff"},
		{"/graph/cpu,10.3.1.12,*.svg?theme=dark", "image/svg+xml", "<?xml"},
		{"/graph/cpu,10.3.1.12,*.pdf?type=line", "application/pdf", "%PDF-"},
		{"/graph/cpu,10.3.1.12,*?format=svg", "image/svg+xml", "<?xml"},
		{"/graph/cpu,10.3.1.12,*.png?tz=Asia/Tokyo", "image/png", "\x89PNG"},
	}
	for _, tc := range tests {
		w := get(t, h, tc.target)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200: %s", tc.target, w.Code, w.Body)
			continue
		}
		if got := w.Header().Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.target, got, tc.ctype)
		}
		if !bytes.HasPrefix(w.Body.Bytes(), []byte(tc.magic)) {
			t.Errorf("GET %s: body starts %.8q, want %q", tc.target, w.Body.Bytes(), tc.magic)
		}
	}
}

func TestHandlerBadInput(t *testing.T) {
	h := newTestServer(t, Options{Trend: &fakeTrend{}})
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
		{"/graph/a?from=yesterday", []string{"from:", `"yesterday"`}},
		{"/graph/a?until=-1x", []string{"until:", `unknown unit "x"`}},
		{"/graph/a?from=now&until=-1h", []string{"is not before until"}},
		{"/graph/", []string{"no key or view"}},
		{"/graph/a?tz=Mars/Olympus", []string{`unknown tz "Mars/Olympus"`}},
		{"/graph/a,[b", []string{"bad key", "unclosed ["}},
	}
	for _, tc := range tests {
		w := get(t, h, tc.target)
		if w.Code != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", tc.target, w.Code)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("GET %s: error %q does not say %q", tc.target, w.Body.String(), s)
			}
		}
	}
}

func TestHandlerSizeClamped(t *testing.T) {
	h := newTestServer(t, Options{})
	tests := []struct {
		query string
		w, h  int
	}{
		{"", DefaultWidth, DefaultHeight},
		{"width=5000&height=100", MaxSize, 100},
		{"width=1&height=99999", MinSize, MaxSize},
		{"width=320&height=0", 320, DefaultHeight},
	}
	for _, tc := range tests {
		w := get(t, h, "/graph/x.png?"+tc.query)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.query, w.Code, w.Body)
		}
		cfg, err := png.DecodeConfig(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Width != tc.w || cfg.Height != tc.h {
			t.Errorf("%s: image is %d×%d, want %d×%d", tc.query, cfg.Width, cfg.Height, tc.w, tc.h)
		}
	}
}

func TestHandlerNoData(t *testing.T) {
	h := newTestServer(t, Options{Trend: &fakeTrend{}, Tree: tree.New()})
	w := get(t, h, "/graph/nothing,here.svg")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	if texts := svgTexts(t, w.Body.Bytes()); !slices.Contains(texts, "no data") {
		t.Errorf("empty result does not say no data: %q", texts)
	}
}

func TestHandlerTreeFallback(t *testing.T) {
	tr := tree.New()
	if _, err := push.Merge(tr, []byte(`{"br": {"ie": {"6": 3, "7": {"": 8, "venders": {"sogou": 2}}}, "webkit": {"14.0": 40}}, "defaultaction": "add"}`)); err != nil {
		t.Fatal(err)
	}
	h := newTestServer(t, Options{Trend: &fakeTrend{}, Tree: tr})
	w := get(t, h, "/graph/br.svg")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	texts := svgTexts(t, w.Body.Bytes())
	for _, want := range []string{"br", "ie,6", "ie,7", "ie,7,venders,sogou", "webkit,14.0", "40"} {
		if !slices.Contains(texts, want) {
			t.Errorf("tree bars lack %q: %q", want, texts)
		}
	}
}

func TestHandlerWildcardAndView(t *testing.T) {
	src := &fakeTrend{series: fixtures()["net"].Series, markers: []Marker{{From: testNow.Add(-time.Hour).UnixMilli(), Text: "shared"}}}
	views := ViewFunc(func(r *http.Request, name string) (View, bool, error) {
		switch name {
		case "traffic":
			return View{Keys: []string{"net,eth0,in", "net,eth0,out"}, Type: TypeLine, From: "-2h"}, true, nil
		case "broken":
			return View{}, false, errors.New("disk on fire")
		}
		return View{}, false, nil
	})
	h := newTestServer(t, Options{Trend: src, Views: views})

	w := get(t, h, "/graph/net,eth0,*.svg?style=net")
	if w.Code != http.StatusOK {
		t.Fatalf("wildcard: status %d: %s", w.Code, w.Body)
	}
	texts := svgTexts(t, w.Body.Bytes())
	for _, want := range []string{"in", "out", "net,eth0,*"} {
		if !slices.Contains(texts, want) {
			t.Errorf("wildcard graph lacks %q: %q", want, texts)
		}
	}

	src.asked = nil
	w = get(t, h, "/graph/traffic.svg?title=Traffic")
	if w.Code != http.StatusOK {
		t.Fatalf("view: status %d: %s", w.Code, w.Body)
	}
	if want := []string{"net,eth0,in", "net,eth0,out"}; !slices.Equal(src.asked, want) {
		t.Errorf("view queried %q, want %q", src.asked, want)
	}
	texts = svgTexts(t, w.Body.Bytes())
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

	if w := get(t, h, "/graph/broken.png"); w.Code != http.StatusInternalServerError {
		t.Errorf("view error: status %d, want 500", w.Code)
	}
}

func TestHandlerTrendError(t *testing.T) {
	h := newTestServer(t, Options{Trend: &fakeTrend{err: errors.New("storage gone")}})
	w := get(t, h, "/graph/a.png")
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "storage gone") {
		t.Errorf("status %d body %q, want 500 naming the cause", w.Code, w.Body)
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

// FuzzGraphQuery feeds arbitrary paths and query strings to the request
// parser: it may refuse them, never panic, and what it accepts is sane.
func FuzzGraphQuery(f *testing.F) {
	for _, s := range []string{
		"/br?style=cpu&type=stacked&width=800&height=300",
		"/net,eth0,*.svg?from=-1d&until=now&theme=dark&fn=rate",
		"/x.pdf?width=99999&height=-5&title=",
		"/a?from=20261120&until=1763650800",
		"/a?style=%00&type=\xff",
	} {
		f.Add(s)
	}
	h := New(Options{Now: func() time.Time { return testNow }, Location: time.UTC})
	f.Fuzz(func(t *testing.T, s string) {
		path, query, _ := strings.Cut(s, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req, err := h.parse(path, q)
		if err != nil {
			return
		}
		if req.name == "" || req.chart.Width < MinSize || req.chart.Width > MaxSize || req.chart.Height < MinSize || req.chart.Height > MaxSize {
			t.Fatalf("accepted %q as %+v", s, req)
		}
		if !req.from.Before(req.until) {
			t.Fatalf("accepted %q with from %v not before until %v", s, req.from, req.until)
		}
	})
}

func TestHandlerTimeZone(t *testing.T) {
	src := &fakeTrend{series: fixtures()["default"].Series}
	h := newTestServer(t, Options{Trend: src})
	from := fixtureStart / 1000
	for _, tc := range []struct{ tz, want string }{{"UTC", "12:00"}, {"Asia/Tokyo", "21:00"}} {
		w := get(t, h, fmt.Sprintf("/graph/upstream,time,*.svg?from=%d&until=%d&tz=%s", from, from+6*3600, tc.tz))
		if w.Code != http.StatusOK {
			t.Fatalf("tz=%s: status %d: %s", tc.tz, w.Code, w.Body)
		}
		if texts := svgTexts(t, w.Body.Bytes()); !slices.Contains(texts, tc.want) {
			t.Errorf("tz=%s: no tick %q: %q", tc.tz, tc.want, texts)
		}
	}
}
