package push

import (
	"encoding/json"
	"testing"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

func FuzzMergeJSON(f *testing.F) {
	for _, s := range []string{seedPush, `{"br": {"ie": {"7": {"venders": {"sogou": 1}}}}}`, `{"a": {"": 1, "b": "m"}}`, `[{"x": 1, "defaultaction": "max"}]`, `{"a": true}`, `{`, `[]`, `{"a": {"defaultaction": "min", "b": 2}}`, `{"m": {"defaultunit": "B", "h": {"": 1, "defaultunit": ""}}}`, `[{"a": {"defaultunit": "s", "b": 1}}, {"a": {"defaultunit": "ms"}}]`} {
		f.Add([]byte(s))
	}
	var dec Decoder // reused, as the daemon reuses it
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := seedTree(t)
		before, ver := dump(t, tr), tr.Version()
		_, err := dec.Merge(tr, data)
		if err != nil {
			if dump(t, tr) != before || tr.Version() != ver {
				t.Fatalf("failed push %q changed the tree", data)
			}
			return
		}
		// A decoded push re-encodes to JSON that merges the same.
		if p, err := Decode(data); err == nil {
			enc := Marshal(p)
			a, b := seedTree(t), seedTree(t)
			a.Merge(p)
			if _, err := Merge(b, enc); err != nil {
				t.Fatalf("re-encoded push %s of %q does not merge: %v", enc, data, err)
			}
			if dump(t, a) != dump(t, b) || dumpNested(t, a) != dumpNested(t, b) {
				t.Fatalf("re-encoded push %s of %q merges differently", enc, data)
			}
		}
		// The flat JSON the API writes is what encoding/json makes of Get.
		for _, k := range []string{"**", "", "*,*", "br,**"} {
			p, _ := key.Parse(k)
			entries := tr.Get(p)
			if entries == nil {
				entries = []tree.Entry{}
			}
			want, _ := json.Marshal(entries)
			if got, _ := tr.AppendJSON(nil, p); string(got) != string(want) {
				t.Fatalf("AppendJSON(%q) after %q\n got %s\nwant %s", k, data, got, want)
			}
		}
		// Whatever merged must read back and round-trip through GetTree.
		p, _ := key.Parse("")
		nested, err := json.Marshal(tr.GetTree(p))
		if err != nil {
			t.Fatalf("cannot encode tree after %q: %v", data, err)
		}
		if _, err := Merge(tree.New(), nested); err != nil {
			t.Fatalf("nested output %s does not merge back: %v", nested, err)
		}
	})
}

// FuzzMarshalStable: whatever decodes, Marshal encodes to JSON that
// decodes to a push Marshal encodes byte for byte the same (actions, units
// and values alike), and that merges into the same tree.
func FuzzMarshalStable(f *testing.F) {
	for _, s := range []string{seedPush, `{"a": {"": 1, "b": "m"}}`, `[{"x": 1, "defaultaction": "max"}, {"x": 2, "defaultaction": "min"}]`,
		`{"mem": {"defaultunit": "B", "h": {"free": {"": 5, "defaultunit": "bytes", "defaultaction": "average"}}}}`,
		`[{"a": {"defaultunit": "s"}}, {"a": {"defaultunit": ""}}, {"defaultunit": "req", "a": 1}]`, `{"\u00e9/ %": {"defaultunit": "\u00b5s<&>", "": 2}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		enc := Marshal(p)
		q, err := Decode(enc)
		if err != nil {
			t.Fatalf("Marshal of %q wrote %s, which does not decode: %v", data, enc, err)
		}
		if again := Marshal(q); string(again) != string(enc) {
			t.Fatalf("Marshal of %q is not stable:\n first %s\nsecond %s", data, enc, again)
		}
		a, b := tree.New(), tree.New()
		_, errA := a.Merge(p)
		_, errB := b.Merge(q)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%q merges with %v, its re-encoding %s with %v", data, errA, enc, errB)
		}
		if errA == nil && (dump(t, a) != dump(t, b) || dumpNested(t, a) != dumpNested(t, b)) {
			t.Fatalf("re-encoded push %s of %q merges to\n%s\nwant\n%s", enc, data, dumpNested(t, b), dumpNested(t, a))
		}
	})
}

// FuzzPush: any body, under any of the content types, decodes, is checked
// against the limits and merges, or fails, without a panic, and a failed
// push changes nothing.
func FuzzPush(f *testing.F) {
	for _, s := range []string{`{"br": {"ie": {"7": 8}}, "defaultaction": "add"}`, `[{"a": 1}, {"b": {"": 2, "c": "m"}}]`, `{"a": {"b": {"c": {"d": {"e": 1}}}}}`, `{"a": "\"}{"}`, `[[[[[`, `{"a": 1e999}`, `json=%7B%22a%22%3A1%7D&accesslog=x`} {
		for _, ct := range []string{"application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"} {
			f.Add(s, ct)
		}
	}
	lim := Limits{MaxJSONDepth: 8, MaxPushNodes: 50, MaxBodyBytes: 4096}.WithDefaults()
	var dec Decoder
	f.Fuzz(func(t *testing.T, body, ctype string) {
		parts, err := DecodeBody(ctype, []byte(body), lim.MaxBodyBytes)
		if err != nil {
			return
		}
		for _, j := range parts.JSON {
			if lim.CheckJSON(j) != nil {
				continue
			}
			tr := seedTree(t)
			before := dump(t, tr)
			if _, err := dec.Merge(tr, j); err != nil && dump(t, tr) != before {
				t.Fatalf("failed push %q changed the tree", j)
			}
		}
	})
}
