package push

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

var scanCases = []string{
	seedPush,
	`{"a": 1}`,
	` [ {"a" : {"b": 2, "c": "m"} , "defaultaction" : "max"} , {"b": 3} ] `,
	`{"a": 1, "a": 2, "b": {"": 3, "c": {"defaultaction": "last", "d": 4}}}`,
	`{"a\"b": 1, "\u0041\\": {"x\ny": -1.5e3}, "k": "quote \" and ] } ,"}`,
	`{"defaultaction": "min"}`,
	`[]`,
	`[{}, {"a": 1}, {}]`,
	"{\"\xff\xfe\": 1, \"ok\": \"\xff\"}",
	`{"a": [1]}`,
	`{"": 1}`,
	`{"a": {"b": true}}`,
	`{"a": 1, "defaultaction": 7}`,
	`{"a": {"": {"b": 1}}}`,
	`[1]`,
	`"x"`,
	`{"a": 1} x`,
	`{"a": 1`,
	`{"a": 1e999}`,
}

// scanRebuild joins the members Scan found back into a push.
func scanRebuild(members []Member) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, m := range members {
		switch {
		case i == 0:
			b.WriteByte('{')
		case m.Object != members[i-1].Object:
			b.WriteString("},{")
		default:
			b.WriteByte(',')
		}
		b.Write(m.Raw)
	}
	if len(members) > 0 {
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.Bytes()
}

// withActions dumps a tree with the action ruling each entry.
func withActions(tr *tree.Tree) string {
	p, _ := key.Parse("")
	var b bytes.Buffer
	for _, e := range tr.Get(p) {
		fmt.Fprintf(&b, "%s=%v/%q/%v;", e.Key, e.Value, e.Marker, e.Action)
	}
	return b.String()
}

func checkScan(t *testing.T, data []byte) {
	members, n, err := Scan(data)
	p, perr := Decode(data)
	if (err == nil) != (perr == nil) || err != nil && err.Error() != perr.Error() {
		t.Fatalf("%q: Scan error %v, Decode error %v", data, err, perr)
	}
	if err != nil {
		return
	}
	if n != len(p.Deltas) {
		t.Fatalf("%q: Scan counts %d deltas, Decode finds %d", data, n, len(p.Deltas))
	}
	back := scanRebuild(members)
	a, b := tree.New(), tree.New()
	_, aerr := a.Merge(p)
	_, berr := Merge(b, back)
	if (aerr == nil) != (berr == nil) {
		t.Fatalf("%q: rebuilt as %s: merge error %v, want %v", data, back, berr, aerr)
	}
	if withActions(a) != withActions(b) {
		t.Fatalf("%q: rebuilt as %s merges as %s, want %s", data, back, withActions(b), withActions(a))
	}
}

func TestScan(t *testing.T) {
	for _, c := range scanCases {
		checkScan(t, []byte(c))
	}
	members, _, err := Scan([]byte(`[{"a": 1, "defaultaction": "max"}, {"b\u0021": {"c": 2}}]`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range members {
		got = append(got, fmt.Sprintf("%d %s %s", m.Object, m.Name, m.Raw))
	}
	want := []string{`0 a "a": 1`, `0 defaultaction "defaultaction": "max"`, `1 b! "b\u0021": {"c": 2}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("members: got %q, want %q", got, want)
	}
}

// FuzzScanPush: Scan accepts what Decode accepts, counts the same,
// and its members put back together merge the same.
func FuzzScan(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkScan(t, data) })
}

// TestNumbersRoundedOnce: numbers parse as strconv.ParseFloat reads them
// (fastjson alone rounds fractions and exponents twice).
func TestNumbersRoundedOnce(t *testing.T) {
	nums := []string{"1.00802e+06", "0.1", "1e-7", "123456789.123456789", "-2.5E3", "9007199254740993", "1e308", "4.35"}
	for _, n := range nums {
		p, err := Decode([]byte(`{"a": ` + n + `}`))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		want, _ := strconv.ParseFloat(n, 64)
		if got := p.Deltas[0].Value; got != want {
			t.Errorf("%s parses as %v, want %v", n, got, want)
		}
	}
}

// TestNameCache: a large push (read through the name cache) merges as its
// parts do when pushed one by one (small pushes skip the cache).
func TestNameCache(t *testing.T) {
	var whole bytes.Buffer
	var parts []string
	whole.WriteString("{")
	for r := 0; r < 20; r++ {
		var part bytes.Buffer
		fmt.Fprintf(&part, `"r%d": {`, r)
		for k := 0; k < 300; k++ {
			fmt.Fprintf(&part, `"m%d": %d, `, (k*7+r)%300, k)
		}
		part.WriteString("\"b\\u00ff\": 1, \"b\\u00fe\": 2, \"a\\u00e9\": 3}")
		if r > 0 {
			whole.WriteString(", ")
		}
		whole.Write(part.Bytes())
		parts = append(parts, "{"+part.String()+"}")
	}
	whole.WriteString("}")
	a, b := tree.New(), tree.New()
	if _, err := Merge(a, whole.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if _, err := Merge(b, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if withActions(a) != withActions(b) {
		t.Errorf("a large push merges differently from its parts")
	}
	if a.Len() != 20*(1+300+3) {
		t.Errorf("%d nodes, want %d", a.Len(), 20*304)
	}
}
