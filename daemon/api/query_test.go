package api

import (
	"net/url"
	"testing"
)

func TestQuery(t *testing.T) {
	tests := []struct {
		raw, name, want string
	}{
		{"key=a&since=7", "since", "7"},
		{"key=a&since=7&since=8", "since", "7"},
		{"key=a%2Cb&timeout=0.5", "key", "a,b"},
		{"k%65y=x", "key", "x"},
		{"key=a+b", "key", "a b"},
		{"key=%zz&key=ok", "key", "ok"},
		{"key=a;b&key=c", "key", "c"},
		{"since", "since", ""},
		{"", "key", ""},
		{"keys=a", "key", ""},
	}
	for _, tt := range tests {
		if got := query(tt.raw, tt.name); got != tt.want {
			t.Errorf("query(%q, %q) = %q, want %q", tt.raw, tt.name, got, tt.want)
		}
	}
}

// FuzzQuery checks query against url.ParseQuery, which gin's c.Query uses.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"key=a&since=7", "k%65y=x&key=y", "key=%zz&key=1", "a;b=c&key=d", "key=a+b%20c", "=&&key"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw)
		for _, name := range []string{"key", "since", "timeout"} {
			if got, want := query(raw, name), v.Get(name); got != want {
				t.Errorf("query(%q, %q) = %q, want %q", raw, name, got, want)
			}
		}
	})
}
