package api

import (
	"encoding/json"
	"fmt"
	"math"
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

	s := openTrend(t)
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
	TrendRoutes(r, s)
	get := func(path string) ([]byte, int) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Body.Bytes(), w.Code
	}

	// Until the store leaves gaps empty (issue 18 point 1) it carries a
	// gauge's last value over them, so shapes with gaps can only be
	// compared once it does; the probe flips this test to strict then.
	probe, err := s.GraphiteGrid(t.Context(), "gaps.web1.v", (from+10)*1000, (until+10)*1000, 10_000)
	if err != nil || len(probe) != 1 {
		t.Fatalf("probe: %v %v", probe, err)
	}
	gapsAreNull := false
	for _, v := range probe[0].Values {
		gapsAreNull = gapsAreNull || math.IsNaN(v)
	}
	if !gapsAreNull {
		t.Logf("exception: the trend store fills gaps with the last value (issue 18 point 1); gaps and counter shapes are reported, not failed")
	}
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
			got, code := get("/render?" + q.Encode())
			if code != http.StatusOK {
				t.Errorf("canopy %s: %d %s", q.Get("target"), code, got)
				continue
			}
			if msg := graphitetest.DiffJSON(want, got); msg != "" {
				if shape != "steady" && !gapsAreNull {
					t.Logf("%s %s: differs (store fills gaps): %s", q.Get("target"), c.params, msg)
					continue
				}
				t.Errorf("%s %s: canopy over the trend store differs from graphite-web: %s", q.Get("target"), c.params, msg)
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
