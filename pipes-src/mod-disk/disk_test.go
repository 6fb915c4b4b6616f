package disk

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/collectorabi"
)

func TestWholeDisks(t *testing.T) {
	b, _ := os.ReadFile("testdata/proc/diskstats")
	devs, err := ParseDiskstats(b)
	if err != nil {
		t.Fatal(err)
	}
	got := WholeDisks(devs)
	sort.Strings(got)
	if strings.Join(got, ",") != "nvme0n1,sda" {
		t.Errorf("WholeDisks = %v, want [nvme0n1 sda]", got)
	}
}

func TestCollect(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "proc", "diskstats")
	os.MkdirAll(filepath.Dir(p), 0o755)
	src, _ := os.ReadFile("testdata/proc/diskstats")
	os.WriteFile(p, src, 0o644)
	clock := time.Unix(0, 0)
	fs := func(m string) (*collectorabi.Statfs, error) {
		return &collectorabi.Statfs{TotalBytes: 1000, FreeBytes: 400, AvailBytes: 300}, nil
	}
	m := Module(func() time.Time { return clock }, fs)
	ms, err := m.Init(map[string]string{"root": root, "devices": "sda"})
	if err != nil {
		t.Fatal(err)
	}
	// 2 s later: 100 more reads of 8000 sectors, 1000 ms busy.
	os.WriteFile(p, []byte(strings.Replace(string(src), "sda 1000 10 80000 500 2000 20 160000 900 0 1500", "sda 1100 10 88000 500 2000 20 160000 900 0 2500", 1)), 0o644)
	clock = clock.Add(2 * time.Second)
	if err := m.Collect(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"io/sda/reads": 50, "io/sda/read_bytes": 8000 * 512 / 2, "io/sda/writes": 0,
		"io/sda/busy_percent": 50, "space/root/total": 1000, "space/root/used_percent": 600 * 100.0 / 900}
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
