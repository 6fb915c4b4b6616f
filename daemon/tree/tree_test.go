package tree_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

const seedPush = `[{"cpu": {"10.3.1.12": {"idle": 32, "system": 29, "user": 900, "marker": "sth. wrong happened"}}, "defaultaction": "average"}, {"br": {"ie": {"6": 3, "7": {"": 8, "venders": {"sogou": 2}}}, "webkit": {"14.0": 40, "13.0": 20}}, "defaultaction": "add"}]`

func mustMerge(t testing.TB, tr *tree.Tree, body string) {
	t.Helper()
	if _, err := push.Merge(tr, []byte(body)); err != nil {
		t.Fatalf("merge %s: %v", body, err)
	}
}

func flat(t *testing.T, tr *tree.Tree, k string) string {
	t.Helper()
	p, err := key.Parse(k)
	if err != nil {
		t.Fatalf("pattern %q: %v", k, err)
	}
	b, err := json.Marshal(tr.Get(p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dump is the whole tree as flat JSON, for comparing trees.
func dump(t *testing.T, tr *tree.Tree) string { return flat(t, tr, "") }

func seedTree(t testing.TB) *tree.Tree {
	tr := tree.New()
	mustMerge(t, tr, seedPush)
	mustMerge(t, tr, `{"br": {"ie": {"7": {"venders": {"sogou": 1}}}}}`)
	return tr
}

func TestGet(t *testing.T) {
	tr := seedTree(t)
	tests := []struct {
		key, want string
	}{
		{"br,ie,,venders,sogou", `[{"br,ie,7,venders,sogou":3}]`},
		{"br,ie,*,venders,sogou", `[{"br,ie,7,venders,sogou":3}]`},
		{"br,ie,7", `[{"br,ie,7":8},{"br,ie,7,venders,sogou":3}]`},
		{"cpu,*,marker", `[{"cpu,10.3.1.12,marker":"sth. wrong happened"}]`},
		{"br,webkit,1*", `[{"br,webkit,13.0":20},{"br,webkit,14.0":40}]`},
		{"br,webkit,1[3]*", `[{"br,webkit,13.0":20}]`},
		{"br,webkit,1?.0", `[{"br,webkit,13.0":20},{"br,webkit,14.0":40}]`},
		{"**,sogou", `[{"br,ie,7,venders,sogou":3}]`},
		{"br,**,sogou", `[{"br,ie,7,venders,sogou":3}]`},
		{"br,ie,**", `[{"br,ie,6":3},{"br,ie,7":8},{"br,ie,7,venders,sogou":3}]`},
		{"**,7", `[{"br,ie,7":8},{"br,ie,7,venders,sogou":3}]`},
		{"cpu,10.3.1.12,user", `[{"cpu,10.3.1.12,user":900}]`},
		{"nothing", `null`},
		{"br,ie,8", `null`},
		{"", `[{"br,ie,6":3},{"br,ie,7":8},{"br,ie,7,venders,sogou":3},{"br,webkit,13.0":20},{"br,webkit,14.0":40},{"cpu,10.3.1.12,idle":32},{"cpu,10.3.1.12,marker":"sth. wrong happened"},{"cpu,10.3.1.12,system":29},{"cpu,10.3.1.12,user":900}]`},
	}
	for _, tc := range tests {
		if got := flat(t, tr, tc.key); got != tc.want {
			t.Errorf("Get(%q) = %s, want %s", tc.key, got, tc.want)
		}
	}
}

func TestEscaping(t *testing.T) {
	tr := tree.New()
	mustMerge(t, tr, `{"url": {"/a,b": 1, "50%": 2, "*": 3}}`)
	tests := []struct{ key, want string }{
		{"url,/a%2Cb", `[{"url,/a%2Cb":1}]`},
		{"url,50%25", `[{"url,50%25":2}]`},
		{"url,%2A", `[{"url,*":3}]`},
		{"url,/a*", `[{"url,/a%2Cb":1}]`},
		{"url,*%25", `[{"url,50%25":2}]`},
	}
	for _, tc := range tests {
		if got := flat(t, tr, tc.key); got != tc.want {
			t.Errorf("Get(%q) = %s, want %s", tc.key, got, tc.want)
		}
	}
	names, err := key.Split("url,/a%2Cb,50%25")
	if err != nil || strings.Join(names, "|") != "url|/a,b|50%" {
		t.Errorf("SplitKey = %q, %v", names, err)
	}
	if got := key.Join(names); got != "url,/a%2Cb,50%25" {
		t.Errorf("JoinKey = %q", got)
	}
}

func TestActions(t *testing.T) {
	tests := []struct {
		action string
		values []float64
		want   float64
	}{
		{"add", []float64{1, 2, 3}, 6},
		{"average", []float64{1, 2, 6}, 3},
		{"max", []float64{4, 9, 2}, 9},
		{"min", []float64{4, 9, 2}, 2},
		{"last", []float64{4, 9, 2}, 2},
	}
	for _, tc := range tests {
		tr := tree.New()
		for _, v := range tc.values {
			b, _ := json.Marshal(map[string]any{"m": map[string]any{"x": v}, "defaultaction": tc.action})
			mustMerge(t, tr, string(b))
		}
		if got, want := flat(t, tr, "m,x"), `[{"m,x":`+jsonNum(tc.want)+`}]`; got != want {
			t.Errorf("%s over %v = %s, want %s", tc.action, tc.values, got, want)
		}
	}
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }

func TestAverageWindow(t *testing.T) {
	tr := tree.New()
	mustMerge(t, tr, `{"load": {"a": 2}, "defaultaction": "average"}`)
	mustMerge(t, tr, `{"load": {"a": 4}}`)
	if got := flat(t, tr, "load,a"); got != `[{"load,a":3}]` {
		t.Fatalf("before tick: %s", got)
	}
	tr.Tick()
	if got := flat(t, tr, "load,a"); got != `[{"load,a":3}]` {
		t.Fatalf("value must stay until new samples come: %s", got)
	}
	mustMerge(t, tr, `{"load": {"a": 10}}`)
	mustMerge(t, tr, `{"load": {"a": 20}}`)
	if got := flat(t, tr, "load,a"); got != `[{"load,a":15}]` {
		t.Fatalf("after tick: %s", got)
	}
}

func TestDeepAction(t *testing.T) {
	tr := tree.New()
	mustMerge(t, tr, `{"srv": {"hits": 1, "temp": {"defaultaction": "max", "a": 5}}, "defaultaction": "add"}`)
	mustMerge(t, tr, `{"srv": {"hits": 1, "temp": {"a": 3}}}`)
	if got := flat(t, tr, "srv"); got != `[{"srv,hits":2},{"srv,temp,a":5}]` {
		t.Errorf("got %s", got)
	}
}

func TestConflictWithinOnePush(t *testing.T) {
	tr := tree.New()
	_, err := tr.Apply([]tree.Delta{{Path: []string{"a", "b"}, Value: 1}, {Path: []string{"a", "b"}, Marker: "m", IsMarker: true}})
	if err == nil || tr.Len() != 0 {
		t.Fatalf("err = %v, nodes = %d; want an error and no nodes", err, tr.Len())
	}
}

func TestGetTreeRoundTrip(t *testing.T) {
	tr := seedTree(t)
	mustMerge(t, tr, `{"srv": {"temp": {"defaultaction": "max", "a": 5}, "hits": {"": 3, "x": 1}}}`)
	for _, k := range []string{"", "br", "br,ie,7", "cpu,**", "srv"} {
		p, _ := key.Parse(k)
		nested, err := json.Marshal(tr.GetTree(p))
		if err != nil {
			t.Fatal(err)
		}
		back := tree.New()
		mustMerge(t, back, string(nested))
		if got, want := dump(t, back), flat(t, tr, k); strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("key %q: round trip via %s\n got %s\nwant %s", k, nested, got, want)
		}
	}
	// The actions survive too: another max sample below the maximum keeps it.
	p, _ := key.Parse("srv")
	nested, _ := json.Marshal(tr.GetTree(p))
	back := tree.New()
	mustMerge(t, back, string(nested))
	mustMerge(t, back, `{"srv": {"temp": {"a": 1}}}`)
	if got := flat(t, back, "srv,temp,a"); got != `[{"srv,temp,a":5}]` {
		t.Errorf("action lost in round trip: %s (nested %s)", got, nested)
	}
}

func TestSince(t *testing.T) {
	tr := seedTree(t)
	v := tr.Version()
	mustMerge(t, tr, `{"br": {"webkit": {"14.0": 1}}}`)
	mustMerge(t, tr, `{"cpu": {"10.3.1.12": {"idle": 40}}}`)
	tests := []struct {
		key  string
		v    uint64
		want string
	}{
		{"br", v, `[{"br,webkit,14.0":41}]`},
		{"", v, `[{"br,webkit,14.0":41},{"cpu,10.3.1.12,idle":36}]`},
		{"br,ie", v, `null`},
		{"**", v + 1, `[{"cpu,10.3.1.12,idle":36}]`},
		{"**", v + 2, `null`},
	}
	for _, tc := range tests {
		p, _ := key.Parse(tc.key)
		got, cur := tr.Since(p, tc.v)
		b, _ := json.Marshal(got)
		if string(b) != tc.want || cur != v+2 {
			t.Errorf("Since(%q, %d) = %s, %d; want %s, %d", tc.key, tc.v, b, cur, tc.want, v+2)
		}
	}
}

func TestBadPatterns(t *testing.T) {
	for _, k := range []string{"a,%zz", "a,[b", "a,b%", strings.Repeat("a,", 64) + "a"} {
		if _, err := key.Parse(k); err == nil {
			t.Errorf("key.Parse(%q) succeeded, want an error", k)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	tr := seedTree(t)
	path := filepath.Join(t.TempDir(), "tree.snap")
	if err := tr.WriteSnapshot(path, []byte("offsets")); err != nil {
		t.Fatal(err)
	}
	back, meta, err := tree.LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(meta) != "offsets" || dump(t, back) != dump(t, tr) || back.Version() != tr.Version() || back.Len() != tr.Len() {
		t.Fatalf("restored tree differs: meta %q\n%s\nwant\n%s", meta, dump(t, back), dump(t, tr))
	}
	// Actions are restored: cpu averages.
	mustMerge(t, back, `{"cpu": {"10.3.1.12": {"idle": 0}}}`)
	if got := flat(t, back, "cpu,*,idle"); got != `[{"cpu,10.3.1.12,idle":0}]` && got != `[{"cpu,10.3.1.12,idle":16}]` {
		t.Errorf("average after restore: %s", got)
	}
	p, _ := key.Parse("")
	if got, _ := back.Since(p, tr.Version()-1); len(got) == 0 {
		t.Errorf("a reader from before the restart must see restored nodes as changed")
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	tr := seedTree(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "tree.snap")
	if err := tr.WriteSnapshot(path, nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	flip := append([]byte(nil), good...)
	flip[len(flip)/2] ^= 0x40
	tests := map[string][]byte{
		"truncated":   good[:len(good)-7],
		"bit flip":    flip,
		"empty":       {},
		"not a snap":  []byte("hello world, this is not a snapshot"),
		"header only": good[:12],
	}
	for name, data := range tests {
		bad := filepath.Join(dir, "bad.snap")
		os.WriteFile(bad, data, 0o644)
		if _, _, err := tree.LoadSnapshot(bad); !errors.Is(err, tree.ErrCorruptSnapshot) {
			t.Errorf("%s: err = %v, want ErrCorruptSnapshot", name, err)
		}
	}
	if _, _, err := tree.LoadSnapshot(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: err = %v, want ErrNotExist", err)
	}
	// A failed write keeps the previous snapshot.
	if err := tr.WriteSnapshot(filepath.Join(dir, "no-such-dir", "x.snap"), nil); err == nil {
		t.Errorf("write into a missing folder succeeded")
	}
	if got, _ := os.ReadFile(path); string(got) != string(good) {
		t.Errorf("previous snapshot changed")
	}
}

func TestMergeFromExactlyOnce(t *testing.T) {
	tr := tree.New()
	steps := []struct {
		first, last uint64
		merged      bool
		conflict    bool
	}{
		{1, 1, true, false},
		{2, 4, true, false},
		{2, 4, false, false}, // resend
		{1, 3, false, false}, // older resend
		{7, 8, false, true},  // gap: 5 and 6 missing
		{3, 6, false, true},  // overlaps part of what merged
		{5, 6, true, false},
	}
	for _, s := range steps {
		p, err := push.Decode([]byte(`{"hits": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		_, merged, err := tr.MergeFrom("relay-a", s.first, s.last, p)
		var ce *tree.SeqConflictError
		if merged != s.merged || errors.As(err, &ce) != s.conflict {
			t.Errorf("batch %d-%d: merged %v err %v; want merged %v conflict %v", s.first, s.last, merged, err, s.merged, s.conflict)
		}
	}
	if got := flat(t, tr, "hits"); got != `[{"hits":3}]` {
		t.Errorf("hits = %s, want 3", got)
	}
	path := filepath.Join(t.TempDir(), "s.snap")
	if applied, durable := tr.SourceSeq("relay-a"); applied != 6 || durable != 0 {
		t.Errorf("before snapshot: applied %d durable %d", applied, durable)
	}
	if err := tr.WriteSnapshot(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, durable := tr.SourceSeq("relay-a"); durable != 6 {
		t.Errorf("after snapshot: durable %d, want 6", durable)
	}
	back, _, err := tree.LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if applied, durable := back.SourceSeq("relay-a"); applied != 6 || durable != 6 {
		t.Errorf("restored: applied %d durable %d, want 6 6", applied, durable)
	}
}

func TestTake(t *testing.T) {
	tr := seedTree(t)
	want := dump(t, tr)
	p := tr.Take()
	if dump(t, tr) != "null" && dump(t, tr) != "[]" {
		t.Fatalf("tree holds values after Take: %s", dump(t, tr))
	}
	// The defaultactions stay for what merges next.
	mustMerge(t, tr, `{"cpu": {"h": {"idle": 2}}}`)
	mustMerge(t, tr, `{"cpu": {"h": {"idle": 4}}}`)
	if got := flat(t, tr, "cpu,h,idle"); got != `[{"cpu,h,idle":3}]` {
		t.Errorf("defaultaction lost by Take: %s", got)
	}
	back := tree.New()
	if _, err := back.Merge(p); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, back); got != want {
		t.Errorf("taken push merges to\n%s\nwant\n%s", got, want)
	}
	mustMerge(t, back, `{"cpu": {"10.3.1.12": {"idle": 0}}}`)
	if got := flat(t, back, "cpu,*,idle"); got != `[{"cpu,10.3.1.12,idle":16}]` {
		t.Errorf("action not carried by Take: %s", got)
	}
}

func TestWeightedAverage(t *testing.T) {
	tr := tree.New()
	tr.SetAction([]string{"rt"}, tree.ActionAverage)
	// 3 samples with mean 2, then 1 sample of 6: mean (6+6)/4 = 3.
	if _, err := tr.Apply([]tree.Delta{{Path: []string{"rt", "avg"}, Value: 2, Samples: 3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Apply([]tree.Delta{{Path: []string{"rt", "avg"}, Value: 6}}); err != nil {
		t.Fatal(err)
	}
	if got := flat(t, tr, "rt,avg"); got != `[{"rt,avg":3}]` {
		t.Errorf("weighted average = %s, want 3", got)
	}
}

// TestSnapshotKeepsAverageWindow: an average resumes its window after a
// restart exactly as if the process had not stopped.
func TestSnapshotKeepsAverageWindow(t *testing.T) {
	live := tree.New()
	mustMerge(t, live, `{"rt": {"a": 2, "b": 5}, "defaultaction": "average"}`)
	mustMerge(t, live, `{"rt": {"a": 4}}`)
	path := filepath.Join(t.TempDir(), "s.snap")
	if err := live.WriteSnapshot(path, nil); err != nil {
		t.Fatal(err)
	}
	back, _, err := tree.LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*tree.Tree{live, back} {
		mustMerge(t, tr, `{"rt": {"a": 9}}`)
	}
	if got, want := dump(t, back), dump(t, live); got != want || !strings.Contains(got, `"rt,a":5`) {
		t.Errorf("after restore: %s, want %s with rt,a = 5", got, want)
	}
	// After a tick the window starts over, restored or not.
	live.Tick()
	if err := live.WriteSnapshot(path, nil); err != nil {
		t.Fatal(err)
	}
	back, _, _ = tree.LoadSnapshot(path)
	for _, tr := range []*tree.Tree{live, back} {
		mustMerge(t, tr, `{"rt": {"b": 1}}`)
	}
	if got, want := dump(t, back), dump(t, live); got != want || !strings.Contains(got, `"rt,b":1`) {
		t.Errorf("after tick and restore: %s, want %s with rt,b = 1", got, want)
	}
}

// checkAppendJSON compares AppendJSON with encoding/json of Get for key.
func checkAppendJSON(t *testing.T, tr *tree.Tree, k string) {
	t.Helper()
	p, err := key.Parse(k)
	if err != nil {
		t.Fatal(err)
	}
	entries := tr.Get(p)
	if entries == nil {
		entries = []tree.Entry{}
	}
	want, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	got, ver := tr.AppendJSON([]byte("prefix"), p)
	if string(got) != "prefix"+string(want) {
		t.Errorf("AppendJSON(%q)\n got %s\nwant prefix%s", k, got, want)
	}
	if ver != tr.Version() {
		t.Errorf("AppendJSON(%q) version %d, tree at %d", k, ver, tr.Version())
	}
}

func TestAppendJSON(t *testing.T) {
	tr := seedTree(t)
	mustMerge(t, tr, `{"odd": {"a<b>&c": 1, "quote\"d": "m<1>", "ünï": 2.5e-7, "big": 1e21, "x%2Cy": 3}, "cpu": {"marker": "on"}}`)
	for _, key := range []string{"", "**", "odd", "odd,", "odd,*", "br,ie,7", "cpu,*,marker", "nothing,here", "br,**"} {
		checkAppendJSON(t, tr, key)
	}
}

// TestTakeKeepsWeights: an average taken out of a scratch tree says how many
// samples it stands for, so it merges elsewhere with that weight.
func TestTakeKeepsWeights(t *testing.T) {
	scratch := tree.New()
	scratch.SetAction([]string{"rt"}, tree.ActionAverage)
	for _, v := range []float64{1, 2, 3} {
		if _, err := scratch.Apply([]tree.Delta{{Path: []string{"rt", "avg"}, Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	dst := tree.New()
	dst.SetAction([]string{"rt"}, tree.ActionAverage)
	dst.Apply([]tree.Delta{{Path: []string{"rt", "avg"}, Value: 6}})
	if _, err := dst.Merge(scratch.Take()); err != nil {
		t.Fatal(err)
	}
	// (6 + 1 + 2 + 3) / 4 = 3
	if got := flat(t, dst, "rt,avg"); got != `[{"rt,avg":3}]` {
		t.Errorf("got %s, want 3", got)
	}
}

// TestApplyBudget: deltas that would create more keys than are left merge
// nothing; updates of existing keys cost nothing.
func TestApplyBudget(t *testing.T) {
	tr := tree.New()
	d := func(keys ...string) []tree.Delta {
		var ds []tree.Delta
		for _, k := range keys {
			ds = append(ds, tree.Delta{Path: strings.Split(k, ","), Value: 1})
		}
		return ds
	}
	var left atomic.Int64
	left.Store(3)
	steps := []struct {
		keys     []string
		wantErr  bool
		wantLeft int64
	}{
		{[]string{"a,x", "a,y"}, false, 1},
		{[]string{"a,x", "a,y", "a,z", "a,w"}, true, 1}, // two new: refused whole
		{[]string{"a,x", "a,y", "a,z"}, false, 0},
		{[]string{"a,x", "a,y", "a,z"}, false, 0}, // no new keys
		{[]string{"b"}, true, 0},
	}
	for i, s := range steps {
		_, err := tr.ApplyBudget(d(s.keys...), &left)
		var be *tree.KeyBudgetError
		if (err != nil) != s.wantErr || (err != nil && !errors.As(err, &be)) || left.Load() != s.wantLeft {
			t.Fatalf("step %d: err %v, left %d; want error %v, left %d", i, err, left.Load(), s.wantErr, s.wantLeft)
		}
	}
	if got, want := flat(t, tr, "**"), `[{"a,x":3},{"a,y":3},{"a,z":2}]`; got != want {
		t.Errorf("tree %s, want %s (refused batches merge nothing)", got, want)
	}
}

// TestUnits: a push's defaultunit declares the unit of a subtree; the
// nearest one on or above a node is its unit, and a snapshot, Take and
// GetTree keep them.
func TestUnits(t *testing.T) {
	tr := tree.New()
	mustMerge(t, tr, `{"mem": {"h1": {"free": {"": 5, "defaultunit": "bytes"}, "used_percent": {"": 3, "defaultunit": "%"}}}}`)
	mustMerge(t, tr, `{"reqtime": {"defaultunit": "s", "sum": 1.5, "le": {"defaultunit": "req", "0.1": 3}}}`)
	path := filepath.Join(t.TempDir(), "tree.snap")
	if err := tr.WriteSnapshot(path, nil); err != nil {
		t.Fatal(err)
	}
	back, _, err := tree.LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	took := tree.New()
	if _, err := took.Merge(tr.Take()); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ key, want string }{
		{"mem,h1,free", "bytes"},
		{"mem,h1,used_percent", "%"},
		{"mem,h1", ""},
		{"reqtime", "s"},
		{"reqtime,sum", "s"},
		{"reqtime,le,0.1", "req"},
		{"reqtime,le,0.1,below,nothing", "req"},
		{"nothing", ""},
	}
	for name, tt := range map[string]*tree.Tree{"restored": back, "taken": took} {
		for _, c := range cases {
			p, _ := key.Split(c.key)
			if got := tt.UnitOf(p); got != c.want {
				t.Errorf("%s: UnitOf(%s) = %q, want %q", name, c.key, got, c.want)
			}
		}
	}
	p, _ := key.Parse("reqtime")
	b, _ := json.Marshal(back.GetTree(p))
	if got, want := string(b), `{"reqtime":{"defaultunit":"s","le":{"0.1":3,"defaultunit":"req"},"sum":1.5}}`; got != want {
		t.Errorf("GetTree = %s, want %s", got, want)
	}
	if err := back.SetUnit([]string{"reqtime"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := back.UnitOf([]string{"reqtime", "sum"}); got != "" {
		t.Errorf("after clearing: UnitOf(reqtime,sum) = %q", got)
	}
	if _, err := push.Merge(tr, []byte(`{"x": {"defaultunit": 3}}`)); err == nil {
		t.Errorf("a number as defaultunit was accepted")
	}
}
