package tree_test

import (
	"testing"

	"github.com/canopy-dev/canopy/daemon/key"
)

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"", "br,ie,7", "br,ie,,venders,sogou", "**,x", "a,*,b", "a,1*", "a,[a-c]?", "a,%2C%25", "a,%zz", "a,[", "**,**,a", "a,\\*"} {
		f.Add(s)
	}
	tr := seedTree(f)
	f.Fuzz(func(t *testing.T, k string) {
		p, err := key.Parse(k)
		if err != nil {
			return
		}
		got := tr.Get(p)
		for i := 1; i < len(got); i++ {
			if got[i-1].Key == got[i].Key {
				t.Fatalf("key %q: %s emitted twice", k, got[i].Key)
			}
		}
		tr.Since(p, 1)
	})
}
