package accesslog

import (
	"strings"
	"testing"
)

func TestForwardsLines(t *testing.T) {
	var got []string
	data := "a b c\r\nd e f\n\n"
	m := Module(Name, func(p string, max int) ([]byte, error) {
		if p != "/var/log/x.log" {
			t.Errorf("path = %q", p)
		}
		d := data
		data = ""
		return []byte(d), nil
	}, func(l ...string) { got = append(got, l...) })
	ms, err := m.Init(map[string]string{"path": "/var/log/x.log"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Collect(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "a b c|d e f" {
		t.Errorf("forwarded %q", got)
	}
	if v, _ := ms[0].CallBack("lines"); v != 2 {
		t.Errorf("lines = %v, want 2", v)
	}
	m.Collect()
	if v, _ := ms[0].CallBack("lines"); v != 0 {
		t.Errorf("lines after an idle interval = %v, want 0", v)
	}
}
