package net

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRates(t *testing.T) {
	root := t.TempDir()
	dev := filepath.Join(root, "proc", "net", "dev")
	os.MkdirAll(filepath.Dir(dev), 0o755)
	src, _ := os.ReadFile("testdata/proc/net/dev")
	os.WriteFile(dev, src, 0o644)
	clock := time.Unix(1000, 0)
	m := Module(func() time.Time { return clock })
	ms, err := m.Init(map[string]string{"root": root, "exclude": "lo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 8 {
		t.Fatalf("got %d metrics, want 8 (eth0 only)", len(ms))
	}
	// 10 s later eth0 received 10000 more bytes and 20 packets.
	next := strings.Replace(string(src), "5000000    4000", "5010000    4020", 1)
	os.WriteFile(dev, []byte(next), 0o644)
	clock = clock.Add(10 * time.Second)
	if err := m.Collect(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"eth0/rx_bytes": 1000, "eth0/rx_packets": 2, "eth0/tx_bytes": 0}
	for _, mt := range ms {
		v, err := mt.CallBack(mt.Name)
		if err != nil {
			t.Fatalf("%s: %v", mt.Name, err)
		}
		if w, ok := want[mt.Name]; ok && v.(float64) != w {
			t.Errorf("%s = %v, want %v", mt.Name, v, w)
		}
	}
}
