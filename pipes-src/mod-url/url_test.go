package url

import (
	"errors"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/collector"
)

func TestChecks(t *testing.T) {
	m := Module(func(u string, to time.Duration) (*collector.Response, error) {
		if u == "http://down/" {
			return nil, errors.New("connection refused")
		}
		return &collector.Response{Status: 200, TTFB: 1500 * time.Microsecond, Total: 3 * time.Millisecond, Bytes: 612}, nil
	})
	ms, err := m.Init(map[string]string{"home": "http://home/", "gone": "http://down/", "timeout_ms": "100"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 10 {
		t.Fatalf("got %d metrics, want 10", len(ms))
	}
	m.Collect()
	got := map[string]any{}
	for _, mt := range ms {
		v, err := mt.CallBack(mt.Name)
		if err == nil {
			got[mt.Name] = v
		}
	}
	want := map[string]any{"home/status": 200, "home/ttfb_ms": 1.5, "home/total_ms": 3.0, "home/bytes": int64(612), "home/up": 1, "gone/up": 0}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], w)
		}
	}
	if _, ok := got["gone/status"]; ok {
		t.Errorf("a failed check reported a status")
	}
	if _, err := Module(nil).Init(map[string]string{}); err == nil {
		t.Errorf("Init without URLs: no error")
	}
}
