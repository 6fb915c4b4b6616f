package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/graphite/graphitetest"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// TestGraphiteWebThroughTrend writes the differential test's points into
// the real trend store (as gauges: a raw counter value is what carbon
// stores, and what nonNegativeDerivative reads) and compares canopy's HTTP
// answers with graphite-web's over whisper files holding the same points:
// /render through the store's read path, /metrics/find and
// /metrics/expand.
func TestGraphiteWebThroughTrend(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Unix()
	until := now - now%graphitetest.Step - 600
	from := until - 3600
	data := graphitetest.Shapes(from-7200, until)
	graphitetest.WriteWhisper(t, dir, data)
	gw := graphitetest.Start(t, dir)

	// A gauge's sample stands for -trend.stale (default two ticks) when no
	// other comes, so with the default a one-tick hole reads as the last
	// value where whisper has null (docs/api.md); with a stale of one tick
	// the store reads exactly as whisper does, every shape.
	open := func(stale time.Duration) (*trend.Store, http.Handler) {
		be, err := trend.OpenEmbedded(t.TempDir(), 365*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		s := trend.New(trend.Options{Backend: be, Stale: stale})
		t.Cleanup(func() { s.Close() })
		var rows []trend.Row
		for name, pts := range data {
			key := strings.ReplaceAll(name, ".", ",")
			for ts, v := range pts {
				rows = append(rows, trend.Row{Key: key, Kind: trend.Gauge, TS: ts * 1000, Value: v})
			}
		}
		if err := s.WriteRows(rows); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		TrendRoutes(r, s, nil)
		return s, r
	}
	getFrom := func(h http.Handler, path string) ([]byte, int) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Body.Bytes(), w.Code
	}
	_, oneTick := open(10 * time.Second)
	_, byDefault := open(0)
	get := func(path string) ([]byte, int) { return getFrom(oneTick, path) }

	for _, shape := range []string{"steady", "gaps", "counter"} {
		for _, c := range []struct{ target, params string }{
			{"%s.*.v", ""},
			{"%s.web{1,3}.v", "maxDataPoints=100"},
			{"sumSeries(%s.*.v)", ""},
			{"nonNegativeDerivative(%s.*.v)", ""},
			{"movingAverage(%s.web1.v,'2min')", ""},
			{"timeShift(%s.web2.v,'20min')", ""},
			{"summarize(%s.*.v,'10min','max')", ""},
		} {
			q := url.Values{"target": {fmt.Sprintf(c.target, shape)}, "format": {"json"}, "noCache": {"1"},
				"from": {strconv.FormatInt(from, 10)}, "until": {strconv.FormatInt(until, 10)}, "now": {strconv.FormatInt(until+300, 10)}}
			extra, _ := url.ParseQuery(c.params)
			for k, v := range extra {
				q[k] = v
			}
			want, code := graphitetest.Get(t, gw+"/render?"+q.Encode())
			if code != http.StatusOK {
				t.Fatalf("graphite-web %s: %d %s", q.Get("target"), code, want)
			}
			for _, store := range []struct {
				name   string
				h      http.Handler
				strict bool
			}{{"stale=1 tick", oneTick, true}, {"stale=default", byDefault, shape == "steady"}} {
				got, code := getFrom(store.h, "/render?"+q.Encode())
				if code != http.StatusOK {
					t.Errorf("canopy (%s) %s: %d %s", store.name, q.Get("target"), code, got)
					continue
				}
				msg := graphitetest.DiffJSON(want, got)
				switch {
				case msg != "" && store.strict:
					t.Errorf("%s %s: canopy over the trend store (%s) differs from graphite-web: %s", q.Get("target"), c.params, store.name, msg)
				case msg == "" && !store.strict && c.target == "%s.*.v":
					t.Errorf("%s %s: with the default stale canopy now agrees with graphite-web over holes; update docs/api.md's table and this test", q.Get("target"), c.params)
				}
			}
		}
	}

	type node struct {
		ID   string `json:"id"`
		Text string `json:"text"`
		Leaf int    `json:"leaf"`
		Exp  int    `json:"expandable"`
	}
	for _, query := range []string{"*", "steady.*", "gaps.web1.*", "{steady,counter}.web[12]", "*.*.v", "steady.web?.*"} {
		var want, got []node
		body, _ := graphitetest.Get(t, gw+"/metrics/find?query="+url.QueryEscape(query))
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("graphite-web find %s: %v %s", query, err, body)
		}
		body, _ = get("/metrics/find?query=" + url.QueryEscape(query))
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("canopy find %s: %v %s", query, err, body)
		}
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("find %s: %v, want %v", query, got, want)
		}
		wantX, _ := graphitetest.Get(t, gw+"/metrics/expand?query="+url.QueryEscape(query))
		gotX, _ := get("/metrics/expand?query=" + url.QueryEscape(query))
		if strings.ReplaceAll(string(wantX), " ", "") != string(gotX) {
			t.Errorf("expand %s: %s, want %s", query, gotX, wantX)
		}
	}
}
