package relay

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/tree"
)

// entriesByOwner dumps a tree's entries (with their ruling action) per
// owning upstream.
func entriesByOwner(r *Relay, tr *tree.Tree) map[int]string {
	p, _ := tree.ParsePattern("")
	out := map[int]string{}
	for _, e := range tr.Get(p) {
		path, _ := tree.SplitKey(e.Key)
		out[r.shard(path)] += fmt.Sprintf("%s=%v/%q/%v;", e.Key, e.Value, e.Marker, e.Action)
	}
	return out
}

// TestShardRouting: whatever way a push is split (raw members at depth 1,
// parsed deltas deeper), each upstream gets exactly its keys, with the
// defaultactions that rule them, and nothing else.
func TestShardRouting(t *testing.T) {
	pushes := []string{
		`[{"cpu": {"h1": {"idle": 32, "user": 900, "marker": "sth. wrong"}}, "defaultaction": "average"}, {"br": {"ie": {"6": 3, "7": {"": 8, "v": {"s": 2}}}}, "defaultaction": "add"}]`,
		`{"cpu": {"h1": {"idle": 40}}, "br": {"ie": {"6": 1}}, "net": {"defaultaction": "max", "eth0": 5}}`,
		`{"a\"b": 1, "\u0041\\": {"x\ny": -1.5e3}, "k": "quote \" and ] } ,", "defaultaction": "last"}`,
		`{"dup": 1, "dup": 2, "solo": 7}`,
		`[{}, {"net": {"eth0": 9}}, {"defaultaction": "min"}]`,
		`{"defaultaction": "min"}`,
		`[]`,
	}
	for i := 0; i < 30; i++ {
		var b strings.Builder
		b.WriteString(`{"defaultaction": "add"`)
		for k := 0; k < 12; k++ {
			fmt.Fprintf(&b, `, "app%02d": {"m%d": %d, "x": {"y": %d}}`, (i+k)%17, k, i+k, k)
		}
		b.WriteString("}")
		pushes = append(pushes, b.String())
	}
	for _, depth := range []int{1, 2} {
		t.Run(fmt.Sprintf("shard_depth=%d", depth), func(t *testing.T) {
			cfg := &Config{Mode: "shard", ShardDepth: depth, Upstreams: []Upstream{{URL: "http://127.0.0.1:1"}, {URL: "http://127.0.0.1:2"}, {URL: "http://127.0.0.1:3"}}}
			if err := cfg.setDefaults(); err != nil {
				t.Fatal(err)
			}
			r, err := New(cfg, t.TempDir(), t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			ref := tree.New()
			for _, p := range pushes {
				jp, err := CheckJSON([]byte(p))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if err := r.PushJSON(jp); err != nil {
					t.Fatal(err)
				}
				if _, err := ref.MergeJSON([]byte(p)); err != nil {
					t.Fatal(err)
				}
			}
			want := entriesByOwner(r, ref)
			for i, u := range r.ups {
				recs, _, err := u.q.Read(1, 1<<30)
				if err != nil {
					t.Fatal(err)
				}
				got := tree.New()
				for _, rec := range recs {
					if rec[0] != kindJSON {
						t.Fatalf("record kind %q", rec[0])
					}
					if _, err := got.MergeJSON(rec[1:]); err != nil {
						t.Fatalf("upstream %d cannot merge %s: %v", i, rec[1:], err)
					}
				}
				have := entriesByOwner(r, got)
				for owner, s := range have {
					if owner != i {
						t.Errorf("upstream %d holds keys of upstream %d: %s", i, owner, s)
					}
				}
				if have[i] != want[i] {
					t.Errorf("upstream %d:\n got %s\nwant %s", i, have[i], want[i])
				}
			}
		})
	}
}
