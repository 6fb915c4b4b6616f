package tree

import (
	"encoding/json"
	"testing"
)

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"", "br,ie,7", "br,ie,,venders,sogou", "**,x", "a,*,b", "a,1*", "a,[a-c]?", "a,%2C%25", "a,%zz", "a,[", "**,**,a", "a,\\*"} {
		f.Add(s)
	}
	tr := seedTree(f)
	f.Fuzz(func(t *testing.T, key string) {
		p, err := ParsePattern(key)
		if err != nil {
			return
		}
		got := tr.Get(p)
		for i := 1; i < len(got); i++ {
			if got[i-1].Key == got[i].Key {
				t.Fatalf("key %q: %s emitted twice", key, got[i].Key)
			}
		}
		tr.Since(p, 1)
	})
}

func FuzzMergeJSON(f *testing.F) {
	for _, s := range []string{seedPush, `{"br": {"ie": {"7": {"venders": {"sogou": 1}}}}}`, `{"a": {"": 1, "b": "m"}}`, `[{"x": 1, "defaultaction": "max"}]`, `{"a": true}`, `{`, `[]`, `{"a": {"defaultaction": "min", "b": 2}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := seedTree(t)
		before, ver := dump(t, tr), tr.Version()
		_, err := tr.MergeJSON(data)
		if err != nil {
			if dump(t, tr) != before || tr.Version() != ver {
				t.Fatalf("failed push %q changed the tree", data)
			}
			return
		}
		// A parsed push re-encodes to JSON that merges the same.
		if p, err := ParsePush(data); err == nil {
			enc, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("cannot encode push %q: %v", data, err)
			}
			a, b := seedTree(t), seedTree(t)
			a.Merge(p)
			if _, err := b.MergeJSON(enc); err != nil {
				t.Fatalf("re-encoded push %s of %q does not merge: %v", enc, data, err)
			}
			if dump(t, a) != dump(t, b) {
				t.Fatalf("re-encoded push %s of %q merges differently", enc, data)
			}
		}
		// The flat JSON the API writes is what encoding/json makes of Get.
		for _, key := range []string{"**", "", "*,*", "br,**"} {
			checkAppendJSON(t, tr, key)
		}
		// Whatever merged must read back and round-trip through GetTree.
		p, _ := ParsePattern("")
		nested, err := json.Marshal(tr.GetTree(p))
		if err != nil {
			t.Fatalf("cannot encode tree after %q: %v", data, err)
		}
		back := New()
		if _, err := back.MergeJSON(nested); err != nil {
			t.Fatalf("nested output %s does not merge back: %v", nested, err)
		}
	})
}
