package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/report"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// TestReport reads /report from a live tree: the overview's counts come
// from the tree and the failed-lines hook, and top=N folds each panel's
// rows beyond N into _other while series stay whole.
func TestReport(t *testing.T) {
	tr := tree.New()
	_, hs := newServer(t, Options{Tree: tr, FailedLines: func() uint64 { return 2 }})
	var pages []string
	for i := range 15 {
		pages = append(pages, fmt.Sprintf(`"/p%02d": %d`, i, 20-i))
	}
	seed := `{"status": {"200": 150, "404": 5}, "bytes": {"total": 3145728},
		"req": {"page": {"": 195, ` + strings.Join(pages, ",") + `}},
		"time": {"hour": {"00": 100, "13": 55}}, "br": {"chrome": {"120": 90}, "firefox": {"115": 65}},
		"defaultaction": "add"}`
	if r := do(t, "POST", hs.URL+"/push", "application/json", seed); r.code != 200 {
		t.Fatalf("push: %d %s", r.code, r.body)
	}
	panel := func(r *report.Report, id string) report.Panel {
		for _, p := range r.Panels {
			if p.ID == id {
				return p
			}
		}
		t.Fatalf("no panel %q", id)
		return report.Panel{}
	}
	names := func(p report.Panel) string {
		var n []string
		for _, r := range p.Rows {
			n = append(n, r.Name)
		}
		return strings.Join(n, " ")
	}
	tests := []struct {
		query    string
		code     int
		requests string  // the requests panel's row names
		other    float64 // its _other row's hits (0: no such row)
	}{
		{"", 200, "/p00 /p01 /p02 /p03 /p04 /p05 /p06 /p07 /p08 /p09 _other", 40},
		{"?top=3", 200, "/p00 /p01 /p02 _other", 138},
		{"?top=0", 200, "/p00 /p01 /p02 /p03 /p04 /p05 /p06 /p07 /p08 /p09 /p10 /p11 /p12 /p13 /p14", 0},
		{"?top=x", 400, "", 0},
		{"?top=-1", 400, "", 0},
	}
	for _, tt := range tests {
		res := do(t, "GET", hs.URL+"/report"+tt.query, "", "")
		if res.code != tt.code {
			t.Errorf("/report%s: %d %s, want %d", tt.query, res.code, res.body, tt.code)
			continue
		}
		if tt.code != 200 {
			if !strings.Contains(res.body, "top=") {
				t.Errorf("/report%s: the error %s does not name top", tt.query, res.body)
			}
			continue
		}
		var r report.Report
		if err := json.Unmarshal([]byte(res.body), &r); err != nil {
			t.Fatalf("/report%s: %v\n%s", tt.query, err, res.body)
		}
		o := r.Overview
		if got := fmt.Sprint(r.Version, o.TotalRequests, o.ValidRequests, o.FailedRequests, float64(o.Bandwidth)); got != "1 157 155 2 3.145728e+06" {
			t.Errorf("/report%s: version, total, valid, failed, bandwidth = %s", tt.query, got)
		}
		req := panel(&r, "requests")
		if got := names(req); got != tt.requests {
			t.Errorf("/report%s: requests rows %q, want %q", tt.query, got, tt.requests)
		}
		if last := req.Rows[len(req.Rows)-1]; tt.other > 0 {
			hits, pct := float64(last.Values[0]), float64(last.Values[1])
			if want := tt.other / 195 * 100; hits != tt.other || math.Abs(pct-want) > 0.05 {
				t.Errorf("/report%s: _other has %v hits, %v %%; want %v, %.2f %%", tt.query, hits, pct, tt.other, want)
			}
		}
		if h := panel(&r, "hours"); len(h.Rows) != 24 {
			t.Errorf("/report%s: the hours series has %d rows, want all 24", tt.query, len(h.Rows))
		}
		if v := panel(&r, "vhosts"); len(v.Rows) != 0 || v.Note == "" {
			t.Errorf("/report%s: vhosts without data has rows %v, note %q", tt.query, v.Rows, v.Note)
		}
	}
}
