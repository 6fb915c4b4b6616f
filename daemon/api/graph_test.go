package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/graph"
)

// fakeSeries answers every key with one rising series named after it.
type fakeSeries struct {
	mu    sync.Mutex
	asked []string
	err   error
}

func (f *fakeSeries) Series(_ context.Context, key string, from, until time.Time, points int, fn string) ([]graph.Series, []graph.Marker, error) {
	f.mu.Lock()
	f.asked = append(f.asked, key)
	f.mu.Unlock()
	if f.err != nil {
		return nil, nil, f.err
	}
	s := graph.Series{Name: key}
	for i := range 10 {
		s.Points = append(s.Points, graph.Point{T: from.Add(time.Duration(i) * until.Sub(from) / 10).UnixMilli(), V: float64(i)})
	}
	return []graph.Series{s}, nil, nil
}

func graphServer(src graph.SeriesSource, views ViewSource) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	g := graph.New(graph.Options{Trend: src, Location: time.UTC})
	GraphRoutes(r, g, views)
	return r
}

func TestGraphHTTP(t *testing.T) {
	src := &fakeSeries{}
	views := ViewFunc(func(r *http.Request, name string) (graph.View, bool, error) {
		switch name {
		case "traffic":
			return graph.View{Keys: []string{"net,eth0,in", "net,eth0,out"}}, true, nil
		case "broken":
			return graph.View{}, false, errors.New("disk on fire")
		}
		return graph.View{}, false, nil
	})
	h := graphServer(src, views)
	tests := []struct {
		target string
		code   int
		ctype  string
		body   string // a prefix of the body
	}{
		{"/graph/cpu,*", 200, "image/png", "\x89PNG"},
		{"/graph/cpu,*.jpg", 200, "image/jpeg", "\xff\xd8\xff"},
		{"/graph/cpu,*.svg", 200, "image/svg+xml", "<?xml"},
		{"/graph/cpu,*.pdf", 200, "application/pdf", "%PDF-"},
		{"/graph/cpu,*?format=svg", 200, "image/svg+xml", "<?xml"},
		{"/graph/traffic.svg", 200, "image/svg+xml", "<?xml"},
		{"/graph/a?style=pie", 400, "application/json; charset=utf-8", `{"error":"unknown style \"pie\"`},
		{"/graph/", 400, "application/json; charset=utf-8", `{"error":"no key or view`},
		{"/graph/a,[b", 400, "application/json; charset=utf-8", `{"error":"bad key \"a,[b\"`},
		{"/graph/broken.png", 500, "application/json; charset=utf-8", `{"error":"cannot read view \"broken\": disk on fire"}`},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.target, nil))
		if w.Code != tc.code || w.Header().Get("Content-Type") != tc.ctype || !bytes.HasPrefix(w.Body.Bytes(), []byte(tc.body)) {
			t.Errorf("GET %s: %d %q %.40q, want %d %q %q", tc.target, w.Code, w.Header().Get("Content-Type"), w.Body, tc.code, tc.ctype, tc.body)
		}
		if tc.code == 200 && w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.target, w.Header().Get("Cache-Control"))
		}
	}
	if want := []string{"net,eth0,in", "net,eth0,out"}; !slices.Contains(src.asked, want[0]) || !slices.Contains(src.asked, want[1]) {
		t.Errorf("view traffic: asked %q, want its keys %q", src.asked, want)
	}

	w := httptest.NewRecorder()
	graphServer(&fakeSeries{err: errors.New("storage gone")}, nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/graph/a.png", nil))
	if want := `{"error":"cannot read the history of \"a\": storage gone"}`; w.Code != http.StatusInternalServerError || w.Body.String() != want {
		t.Errorf("trend error: %d %q, want 500 %q", w.Code, w.Body, want)
	}
}
