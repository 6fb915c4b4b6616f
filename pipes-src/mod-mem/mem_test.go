package mem

import "testing"

func TestCollect(t *testing.T) {
	m := Module()
	ms, err := m.Init(map[string]string{"root": "testdata"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Collect(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"total": 16384000 * 1024, "used": 4096000 * 1024, "used_percent": 25, "swap_free": 1024000 * 1024}
	for _, mt := range ms {
		v, err := mt.CallBack(mt.Name)
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := want[mt.Name]; ok && v.(float64) != w {
			t.Errorf("%s = %v, want %v", mt.Name, v, w)
		}
	}
}
