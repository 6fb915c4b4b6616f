package api

import (
	"context"
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
	for i := 0; i < 60; i++ {
		ts := base.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
		rows = append(rows,
			trend.Row{Key: p + ",br,ie,7", Kind: trend.Counter, TS: ts, Value: float64(2 * (i + 1))},
			trend.Row{Key: p + ",br,webkit,14.0", Kind: trend.Counter, TS: ts, Value: float64(i + 1)},
			trend.Row{Key: p + ",load", Kind: trend.Gauge, TS: ts, Value: float64(i % 5)})
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
	TrendRoutes(r, s)
	from, until := strconv.FormatInt(base.Unix(), 10), base.Add(10*time.Minute).Format(time.RFC3339)

	var res trend.Result
	body := getStatus(t, r, "/trend/"+p+",br,*,*?fn=rate&points=10&from="+from+"&until="+until, http.StatusOK)
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
	for _, bad := range []string{
		"/trend/" + p + "?fn=median",
		"/trend/" + p + "?from=yesterday",
		"/trend/" + p + "?points=0",
		"/trend/" + p + "?from=-1h&until=-2h",
		"/trend/" + p + ",[?from=-1h",
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
	body = getStatus(t, r, "/render?format=json&maxDataPoints=20&target="+url.QueryEscape(p+".br.{ie,webkit}.*")+"&from="+from+"&until="+url.QueryEscape(until), http.StatusOK)
	if err := json.Unmarshal(body, &rendered); err != nil {
		t.Fatal(err)
	}
	if len(rendered) != 2 || rendered[1].Target != p+".br.webkit.14%2E0" {
		t.Fatalf("render: %s", body)
	}
	total := 0.0
	for _, dp := range rendered[0].Datapoints {
		total += dp[0]
		// Buckets are aligned to their width, so the first may start a
		// little before base; milliseconds would be 1000 times off.
		if dp[1] < float64(base.Unix()-600) || dp[1] > float64(base.Unix()+1200) {
			t.Errorf("render timestamp %v is not unix seconds in range", dp[1])
		}
	}
	if total != 120 {
		t.Errorf("render br.ie.7 sums to %v, want 120", total)
	}
	// Grafana's "Save & test".
	body = getStatus(t, r, "/render?target=constantLine(100)&from=-1h&until=now&format=json&maxDataPoints=300", http.StatusOK)
	if !strings.HasPrefix(string(body), `[{"target":"constantLine(100)"`) || !strings.Contains(string(body), "[100,") {
		t.Errorf("constantLine(100): %s", body)
	}
	getStatus(t, r, "/render?format=png&target=a", http.StatusBadRequest)
	getStatus(t, r, "/render?target=sumSeries(a.b)", http.StatusBadRequest)
}

func sumPoints(s trend.Series) float64 {
	var t float64
	for _, p := range s.Points {
		t += p.V
	}
	return t
}
