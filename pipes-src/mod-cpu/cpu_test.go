package cpu

import (
	"math"
	"os"
	"testing"
)

func TestCollectFromProc(t *testing.T) {
	m := Module()
	ms, err := m.Init(map[string]string{"root": "testdata"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Collect(); err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mt := range ms {
		v, err := mt.CallBack(mt.Name)
		if err != nil {
			t.Fatal(err)
		}
		sum += v.(float64)
	}
	if math.Abs(sum-100) > 1e-9 {
		t.Errorf("percentages sum to %v, want 100", sum)
	}
}

func TestPercent(t *testing.T) {
	b, err := os.ReadFile("testdata/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	v, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != 4705 || v[3] != 1088130 {
		t.Errorf("Parse = %v", v)
	}
	next := v
	next[0] += 30 // user
	next[2] += 10 // system
	next[3] += 60 // idle
	p := Percent(v, next)
	want := [8]float64{30, 0, 10, 60, 0, 0, 0, 0}
	if p != want {
		t.Errorf("Percent = %v, want %v", p, want)
	}
	if p := Percent(v, v); p[3] != 100 {
		t.Errorf("no time passed: idle = %v, want 100", p[3])
	}
}
