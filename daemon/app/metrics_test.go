package app

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/metric"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/sdk/host"
)

func TestSubsystemMetrics(t *testing.T) {
	reg := metric.NewRegistry(false)
	p := func() pipes.Status {
		return pipes.Status{Lines: 10, BadLines: 1, Pipes: []pipes.PipeStatus{
			{File: "browser.wasm", Name: "browser", Loaded: true, PipeStats: host.PipeStats{Records: 10, NanosPerLine: 850, Retried: 3,
				BreakerStatus: host.BreakerStatus{Failures: 2}}},
			{File: "broken.wasm", LoadError: "bad magic"},
		}}
	}
	trend := func() map[string]any {
		return map[string]any{"points_queued": uint64(5), "points_written": uint64(3), "backend": "embedded", "last_tick_seconds": 0.25}
	}
	ingest := func() map[string]any {
		return map[string]any{"lines": uint64(7), "files": []map[string]any{{"behind_bytes": 100}, {"behind_bytes": 20}}}
	}
	registerSubsystemMetrics(reg, p, trend, ingest)
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`canopy_pipe_ns_per_line{pipe="browser"} 850`,
		`canopy_pipe_failures_total{pipe="browser"} 2`,
		`canopy_pipe_retried_calls_total{pipe="browser"} 3`,
		`canopy_pipe_quarantined{pipe="broken"} 0`,
		"canopy_pipe_lines_total 10",
		"canopy_trend_points_queued_total 5",
		"canopy_trend_last_tick_seconds 0.25",
		"canopy_trend_lag_points 2",
		"canopy_ingest_behind_bytes 120",
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, rec.Body.String())
		}
	}
}
