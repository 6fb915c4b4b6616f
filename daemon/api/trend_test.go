package api

import (
	"context"
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

	"github.com/canopy-dev/canopy/daemon/trend"
)

// openTrend opens an embedded trend store in a temporary folder.
func openTrend(t *testing.T) *trend.Store {
	t.Helper()
	be, err := trend.OpenEmbedded(t.TempDir(), 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := trend.New(trend.Options{Backend: be})
	t.Cleanup(func() { s.Close() })
	return s
}

func getStatus(t *testing.T, h http.Handler, target string, want int) []byte {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	if w.Code != want {
		t.Fatalf("GET %s: %d %s, want %d", target, w.Code, w.Body, want)
	}
	return w.Body.Bytes()
}

// TestTrendHTTP drives /trend/KEY, /metrics/find and /render as Grafana would.
func TestTrendHTTP(t *testing.T) {
	s := openTrend(t)
	p := "http"
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Hour)
	rows := []trend.Row{
		{Key: p + ",br,ie,7", Kind: trend.Counter, TS: base.UnixMilli() - 1},
		{Key: p + ",br,webkit,14.0", Kind: trend.Counter, TS: base.UnixMilli() - 1},
	}
	for _, b := range []string{"0.1", "0.2", "10", "+Inf"} {
		rows = append(rows, trend.Row{Key: p + ",rt,le," + b, Kind: trend.Counter, TS: base.UnixMilli() - 1})
	}
	for i := 0; i < 60; i++ {
		ts := base.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
		rows = append(rows,
			trend.Row{Key: p + ",br,ie,7", Kind: trend.Counter, TS: ts, Value: float64(2 * (i + 1))},
			trend.Row{Key: p + ",br,webkit,14.0", Kind: trend.Counter, TS: ts, Value: float64(i + 1)},
			trend.Row{Key: p + ",load", Kind: trend.Gauge, TS: ts, Value: float64(i % 5)},
			// One request of 0.1 to 0.2 s every 10 s (10 sorts before 0.2 as text).
			trend.Row{Key: p + ",rt,le,0.1", Kind: trend.Counter, TS: ts, Value: 0},
			trend.Row{Key: p + ",rt,le,0.2", Kind: trend.Counter, TS: ts, Value: float64(i + 1)},
			trend.Row{Key: p + ",rt,le,10", Kind: trend.Counter, TS: ts, Value: float64(i + 1)},
			trend.Row{Key: p + ",rt,le,+Inf", Kind: trend.Counter, TS: ts, Value: float64(i + 1)})
	}
	rows = append(rows, trend.Row{Key: p + ",marker", Kind: trend.Marker, TS: base.Add(time.Minute).UnixMilli(), Text: "deploy"})
	if err := s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	TrendRoutes(r, s, nil)
	from, until := strconv.FormatInt(base.Unix(), 10), base.Add(10*time.Minute).Format(time.RFC3339)

	var res trend.Result
	body := getStatus(t, r, "/trend/"+p+",br,*,*?as=count&points=10&from="+from+"&until="+until, http.StatusOK)
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Series) != 2 || sumPoints(res.Series[0]) != 120 || sumPoints(res.Series[1]) != 60 {
		t.Errorf("rate of br,*,*: %s", body)
	}
	if len(res.Markers) != 1 || res.Markers[0].Text != "deploy" {
		t.Errorf("markers: %+v, want the top-level deploy marker", res.Markers)
	}
	// Keys holding a slash go in the query string.
	body = getStatus(t, r, "/trend?key="+url.QueryEscape(p+",load")+"&fn=max&points=1&from="+from+"&until="+until, http.StatusOK)
	if err := json.Unmarshal(body, &res); err != nil || len(res.Series) != 1 || res.Series[0].Points[0].V != 4 {
		t.Errorf("max of load: %s %v", body, err)
	}
	body = getStatus(t, r, "/trend?key="+p+",rt&percentile=50,99&points=1&from="+from+"&until="+until, http.StatusOK)
	if err := json.Unmarshal(body, &res); err != nil || len(res.Series) != 2 || res.Series[0].Key != p+",rt p50" ||
		math.Abs(res.Series[0].Points[0].V-0.15) > 1e-9 || res.Series[1].Key != p+",rt p99" || math.Abs(res.Series[1].Points[0].V-0.199) > 1e-9 {
		t.Errorf("percentile=50,99 of rt: %s %v", body, err)
	}
	// br,*,* has two series: top=1 keeps ie,7 (120) and folds webkit into other (60).
	body = getStatus(t, r, "/trend?key="+p+",br,*,*&top=1&as=count&points=10&from="+from+"&until="+until, http.StatusOK)
	if err := json.Unmarshal(body, &res); err != nil || len(res.Series) != 2 || res.Series[0].Key != p+",br,ie,7" ||
		sumPoints(res.Series[0]) != 120 || res.Series[1].Key != trend.OtherKey || sumPoints(res.Series[1]) != 60 {
		t.Errorf("top=1 of br,*,*: %s %v", body, err)
	}
	body = getStatus(t, r, "/trend?key="+p+",br,*,*&top=10&as=count&points=10&from="+from+"&until="+until, http.StatusOK)
	if err := json.Unmarshal(body, &res); err != nil || len(res.Series) != 2 || res.Series[1].Key == trend.OtherKey {
		t.Errorf("top=10 of two series: %s %v", body, err)
	}
	for _, bad := range []string{
		"/trend/" + p + "?top=0",
		"/trend/" + p + "?top=x",
		"/trend/" + p + ",rt?top=3&percentile=95",
		"/trend/" + p + "?percentile=101",
		"/trend/" + p + "?percentile=p95",
		"/trend/" + p + "?fn=median",
		"/trend/" + p + "?from=someday",
		"/trend/" + p + "?points=0",
		"/trend/" + p + "?from=-1h&until=-2h",
		"/trend/" + p + ",[?from=-1h",
		"/trend/" + p + "?as=median",
	} {
		getStatus(t, r, bad, http.StatusBadRequest)
	}

	// Grafana: find the tree level by level, then render.
	var nodes []trend.FindNode
	body = getStatus(t, r, "/metrics/find?query="+p+".br.*&from="+from+"&until="+until, http.StatusOK)
	if err := json.Unmarshal(body, &nodes); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(nodes) != fmt.Sprint([]trend.FindNode{
		{ID: p + ".br.ie", Text: "ie", Expandable: 1, AllowChildren: 1},
		{ID: p + ".br.webkit", Text: "webkit", Expandable: 1, AllowChildren: 1},
	}) {
		t.Errorf("find %s.br.*: %s", p, body)
	}
	body = getStatus(t, r, "/metrics/find?query="+p+".br.webkit.*&from="+from+"&until="+until, http.StatusOK)
	if err := json.Unmarshal(body, &nodes); err != nil || len(nodes) != 1 || nodes[0].ID != p+".br.webkit.14%2E0" || nodes[0].Leaf != 1 {
		t.Errorf("find webkit.*: %s", body)
	}
	var rendered []struct {
		Target     string       `json:"target"`
		Datapoints [][2]float64 `json:"datapoints"`
	}
	// Graphite reads the slots after from's: from = base-1 starts at base.
	rfrom := strconv.FormatInt(base.Unix()-1, 10)
	for _, target := range []string{
		p + ".br.{ie,webkit}.*",
		// 60 points folded 3 to a point keep their total when summed.
		"consolidateBy(" + p + ".br.{ie,webkit}.*,'sum')&maxDataPoints=20",
	} {
		body = getStatus(t, r, "/render?format=json&target="+strings.ReplaceAll(url.QueryEscape(target), "%26", "&")+"&from="+rfrom+"&until="+url.QueryEscape(until), http.StatusOK)
		if err := json.Unmarshal(body, &rendered); err != nil {
			t.Fatal(err)
		}
		if len(rendered) != 2 || !strings.Contains(rendered[1].Target, p+".br.webkit.14%2E0") {
			t.Fatalf("render %s: %s", target, body)
		}
		total := 0.0
		for _, dp := range rendered[0].Datapoints {
			total += dp[0]
			// Milliseconds would be 1000 times off.
			if dp[1] < float64(base.Unix()-600) || dp[1] > float64(base.Unix()+1200) {
				t.Errorf("render timestamp %v is not unix seconds in range", dp[1])
			}
		}
		if total != 120 {
			t.Errorf("render %s: br.ie.7 sums to %v, want 120", target, total)
		}
	}
	// Grafana's "Save & test"; graphite-web names the line by its value.
	body = getStatus(t, r, "/render?target=constantLine(100)&from=-1h&until=now&format=json&maxDataPoints=300", http.StatusOK)
	if !strings.HasPrefix(string(body), `[{"target": "100.0"`) || !strings.Contains(string(body), "[100.0, ") {
		t.Errorf("constantLine(100): %s", body)
	}
	// Grafana's other calls.
	for path, want := range map[string]string{
		"/version":                            "1.1.",
		"/functions":                          `"sumSeries":{"name":"sumSeries"`,
		"/functions/movingAverage":            `"function":"movingAverage(seriesList, windowSize, xFilesFactor=None)"`,
		"/tags/autoComplete/tags":             "[]",
		"/tags/findSeries?expr=a%3Db":         "[]",
		"/metrics/index.json":                 `"http.br.webkit.14%2E0"`,
		"/metrics/expand?query=http.br.*":     `{"results":["http.br.ie","http.br.webkit"]}`,
		"/metrics/find?query=http.*&from=-1y": `"id":"http.load"`,
	} {
		if body := getStatus(t, r, path, http.StatusOK); !strings.Contains(string(body), want) {
			t.Errorf("%s: %s, want %s in it", path, body, want)
		}
	}
	// Images through the graph package.
	for format, magic := range map[string]string{"png": "\x89PNG", "svg": "<?xml"} {
		body := getStatus(t, r, "/render?format="+format+"&width=400&height=200&target="+url.QueryEscape("sumSeries("+p+".br.*.*)")+"&from="+rfrom+"&until="+url.QueryEscape(until), http.StatusOK)
		if !strings.HasPrefix(string(body), magic) {
			t.Errorf("format=%s: %.40q", format, body)
		}
	}
	for _, bad := range []string{"nosuchFunction(a.b)", "scale(a.b,'x')", "sumSeries(a.b", "scale(a.b)"} {
		getStatus(t, r, "/render?format=json&target="+url.QueryEscape(bad), http.StatusBadRequest)
	}
}

func sumPoints(s trend.Series) float64 {
	var t float64
	for _, p := range s.Points {
		if !math.IsNaN(p.V) {
			t += p.V
		}
	}
	return t
}
