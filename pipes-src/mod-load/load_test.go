package load

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
	want := map[string]float64{"one": 0.2, "five": 0.18, "fifteen": 0.12, "proc_run": 1, "proc_total": 80, "cpu_num": 2}
	for _, mt := range ms {
		v, _ := mt.CallBack(mt.Name)
		if v.(float64) != want[mt.Name] {
			t.Errorf("%s = %v, want %v", mt.Name, v, want[mt.Name])
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"", "1 2 3", "x 2 3 1/2 5", "1 2 3 12 5"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q): no error", in)
		}
	}
}
