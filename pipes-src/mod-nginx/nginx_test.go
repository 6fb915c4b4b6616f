package nginx

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/collector"
)

func TestParse(t *testing.T) {
	b, err := os.ReadFile("testdata/stub_status.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"active": 2, "accepts": 16, "handled": 16, "requests": 31, "reading": 0, "writing": 1, "waiting": 1}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if _, err := Parse([]byte("<html>hello</html>")); err == nil {
		t.Errorf("Parse of a web page: no error")
	}
}

func TestModule(t *testing.T) {
	body, _ := os.ReadFile("testdata/stub_status.txt")
	status := 200
	m := Module(func(url string, to time.Duration) (*collector.Response, error) {
		if url != "http://x/status" || to != 500*time.Millisecond {
			return nil, errors.New("unexpected request")
		}
		return &collector.Response{Status: status, Body: body}, nil
	})
	ms, err := m.Init(map[string]string{"url": "http://x/status", "timeout_ms": "500"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Collect(); err != nil {
		t.Fatal(err)
	}
	if v, _ := ms[3].CallBack("requests"); v.(float64) != 31 {
		t.Errorf("requests = %v, want 31", v)
	}
	status = 404
	if err := m.Collect(); err == nil {
		t.Errorf("a 404 status page: no error")
	}
}
