package push

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// seedPush is the seed's example push.
const seedPush = `[{"cpu": {"10.3.1.12": {"idle": 32, "system": 29, "user": 900, "marker": "sth. wrong happened"}}, "defaultaction": "average"}, {"br": {"ie": {"6": 3, "7": {"": 8, "venders": {"sogou": 2}}}, "webkit": {"14.0": 40, "13.0": 20}}, "defaultaction": "add"}]`

func mustMerge(t testing.TB, tr *tree.Tree, body string) {
	t.Helper()
	if _, err := Merge(tr, []byte(body)); err != nil {
		t.Fatalf("merge %s: %v", body, err)
	}
}

func seedTree(t testing.TB) *tree.Tree {
	tr := tree.New()
	mustMerge(t, tr, seedPush)
	mustMerge(t, tr, `{"br": {"ie": {"7": {"venders": {"sogou": 1}}}}}`)
	return tr
}

// dump is the whole tree as the flat JSON list, for comparing trees.
func dump(t testing.TB, tr *tree.Tree) string {
	t.Helper()
	p, _ := key.Parse("")
	return jsonOf(t, tr.Get(p))
}

// dumpNested is the whole tree in push shape, defaultactions and
// defaultunits included (dump leaves them out).
func dumpNested(t testing.TB, tr *tree.Tree) string {
	t.Helper()
	p, _ := key.Parse("")
	return jsonOf(t, tr.GetTree(p))
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBadPushChangesNothing(t *testing.T) {
	tests := []struct {
		push, wantErr string
	}{
		{`{"br": {"ie": {"7": true}}}`, "br,ie,7: value true is not a number or marker string"},
		{`{"br": {"ie": {"7": null}}}`, "br,ie,7: value null"},
		{`{"br": {"ie": {"7": [1]}}}`, "br,ie,7: value [1]"},
		{`{"br": {"ie": {"6": 1, "7": 1}}, "defaultaction": "sum"}`, `unknown defaultaction "sum"`},
		{`{"br": {"ie": {"6": 1, "7": 1, "defaultaction": 3}}}`, "br,ie: defaultaction is a number"},
		{`{"br": {"ie": {"6": 1, "defaultunit": 3}}}`, "br,ie: defaultunit is a number"},
		{`{"br": {"ie": {"6": 1, "defaultunit": "` + strings.Repeat("B", 65) + `"}}}`, "br,ie: defaultunit of 65 bytes"},
		{`{"cpu": {"10.3.1.12": {"marker": 5}}}`, "cpu,10.3.1.12,marker: a number where a marker is"},
		{`{"br": {"ie": {"6": "x"}}}`, "br,ie,6: a marker where a number is"},
		{`{"new": {"a": 1}, "new2": {"a": "x"}, "x": {"y": 1e999}}`, "x,y: value 1e999 is not a finite number"},
		{`{"br": {"ie": 1`, "push is not valid JSON"},
		{`[1]`, "push list item 0 is a number"},
		{`"x"`, "push is a string"},
		{`{"": 1}`, "empty name"},
		{`{"a": {"": {"b": 1}}}`, "a: the own value"},
		{`{"a":1} {"b":2}`, "data after the JSON value"},
	}
	var dec Decoder
	for _, tc := range tests {
		tr := seedTree(t)
		before, ver := dump(t, tr), tr.Version()
		_, err := dec.Merge(tr, []byte(tc.push))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("push %s: err = %v, want containing %q", tc.push, err, tc.wantErr)
		}
		if after := dump(t, tr); after != before || tr.Version() != ver {
			t.Errorf("push %s changed the tree", tc.push)
		}
	}
}

// TestFilterAndMarshal: a part of a decoded push, encoded again, merges
// as the part itself does.
func TestFilterAndMarshal(t *testing.T) {
	p, err := Decode([]byte(`[{"cpu": {"h": {"idle": 3, "marker": "m"}}, "defaultaction": "average"}, {"br": {"ie": {"7": 1}}}, {"br": {"ie": {"7": {"": 2, "venders": {"sogou": 1}}}}},
		{"mem": {"defaultunit": "B", "h": {"free": {"": 5, "defaultunit": "bytes", "defaultaction": "max"}, "swap": {"defaultunit": ""}}}}, {"mem": {"defaultunit": "KiB"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"cpu", "br", "mem"} {
		part := p.Filter(func(path []string) bool { return path[0] == root })
		b := Marshal(part)
		direct, via := tree.New(), tree.New()
		if _, err := direct.Merge(part); err != nil {
			t.Fatal(err)
		}
		mustMerge(t, via, string(b))
		if dump(t, direct) != dump(t, via) || dumpNested(t, direct) != dumpNested(t, via) {
			t.Errorf("%s: re-encoded push %s merges to\n%s\nwant\n%s", root, b, dumpNested(t, via), dumpNested(t, direct))
		}
	}
}

// TestDecoderReuse: a Decoder's reused buffers leave nothing of one push
// in the next.
func TestDecoderReuse(t *testing.T) {
	var dec Decoder
	a, b := tree.New(), tree.New()
	for _, body := range []string{seedPush, `{"x": {"y": 1}}`, `[{"a": 1}, {"b": 2}]`, `{"bad": true}`, `{"z": "m"}`} {
		_, errA := dec.Merge(a, []byte(body))
		_, errB := Merge(b, []byte(body))
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%s: reused decoder error %v, fresh %v", body, errA, errB)
		}
	}
	if dump(t, a) != dump(t, b) {
		t.Errorf("reused decoder merged\n%s\nwant\n%s", dump(t, a), dump(t, b))
	}
}

// TestRefusedWhole: invalid UTF-8 anywhere and over-long names refuse the
// whole push, with an error that says why.
func TestRefusedWhole(t *testing.T) {
	long := strings.Repeat("k", MaxNameBytes+1)
	cases := []struct{ in, want string }{
		{"{\"a\\xff\": 1}", "push is not valid UTF-8 (first bad byte at offset 3)"},
		{"{\"a\": \"m\xfe\"}", "push is not valid UTF-8 (first bad byte at offset 8)"},
		{`{"` + long + `": 1}`, `top level: a name of 1025 bytes ("kkkkkkkkkkkkkkkk"…), longer than 1024`},
		{`{"a": {"` + long + `": 1}}`, `a: a name of 1025 bytes ("kkkkkkkkkkkkkkkk"…), longer than 1024`},
	}
	for _, c := range cases {
		in := strings.ReplaceAll(c.in, `\xff`, "\xff")
		_, err := Decode([]byte(in))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: got %v, want %s", c.in, err, c.want)
		}
	}
	if _, err := Decode([]byte(`{"` + long[1:] + `": 1}`)); err != nil {
		t.Errorf("a name of MaxNameBytes: %v", err)
	}
}

// TestUnitsRelayDeltas: units declared in a push survive the relay's
// deltas encoding.
func TestUnitsRelayDeltas(t *testing.T) {
	var dec Decoder
	p, err := dec.Decode([]byte(`{"mem": {"h": {"free": {"": 5, "defaultunit": "bytes"}}, "defaultaction": "average"}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalDeltas(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalDeltas(append(append([]byte{'['}, b...), ']'))
	if err != nil {
		t.Fatal(err)
	}
	tr := tree.New()
	if _, err := tr.Merge(back); err != nil {
		t.Fatal(err)
	}
	if got := tr.UnitOf([]string{"mem", "h", "free"}); got != "bytes" {
		t.Errorf("unit after the relay's deltas = %q, want bytes (wire %s)", got, b)
	}
}
