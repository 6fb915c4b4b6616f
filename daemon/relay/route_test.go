package relay

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// entriesByOwner dumps a tree's entries (with their ruling action) per
// owning upstream.
func entriesByOwner(r *Relay, tr *tree.Tree) map[int]string {
	p, _ := key.Parse("")
	out := map[int]string{}
	for _, e := range tr.Get(p) {
		path, _ := key.Split(e.Key)
		out[r.shard(path)] += fmt.Sprintf("%s=%v/%q/%v;", e.Key, e.Value, e.Marker, e.Action)
	}
	return out
}

// mergeRecord merges a queue record as a daemon would.
func mergeRecord(tr *tree.Tree, rec []byte) error {
	switch rec[0] {
	case kindJSON:
		_, err := push.Merge(tr, rec[1:])
		return err
	case kindDeltas:
		p, err := push.UnmarshalDeltas(append(append([]byte{'['}, rec[1:]...), ']'))
		if err != nil {
			return err
		}
		_, err = tr.Merge(p)
		return err
	}
	return fmt.Errorf("record kind %q", rec[0])
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
				jp, err := r.CheckJSON([]byte(p))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if err := r.PushJSON(jp); err != nil {
					t.Fatal(err)
				}
				if _, err := push.Merge(ref, []byte(p)); err != nil {
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
					if err := mergeRecord(got, rec); err != nil {
						t.Fatalf("upstream %d cannot merge %s: %v", i, rec, err)
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

// TestForwardedAverageWeight: deltas pushed to a relay (from sockets, or
// from pipes run there) keep the weight of averages up to the daemon.
func TestForwardedAverageWeight(t *testing.T) {
	tr := tree.New()
	srv := httptest.NewServer(api.New(api.Options{Tree: tr}))
	defer srv.Close()
	cfg := &Config{Upstreams: []Upstream{{URL: srv.URL}}}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	defer r.Close()
	sink := r.Sink()
	if err := sink.SetAction([]string{"rt"}, tree.ActionAverage); err != nil {
		t.Fatal(err)
	}
	// 3 samples with mean 2, then 1 sample of 6: mean 3 (not 4).
	for _, d := range []tree.Delta{{Path: []string{"rt", "avg"}, Value: 2, Samples: 3}, {Path: []string{"rt", "avg"}, Value: 6}, {Path: []string{"rt", "m"}, Marker: "x", IsMarker: true}} {
		if _, err := sink.Apply([]tree.Delta{d}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Status()[0].Sent < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p, _ := key.Parse("rt,")
	var got []string
	for _, e := range tr.Get(p) {
		got = append(got, fmt.Sprintf("%s=%v%s", e.Key, e.Value, e.Marker))
	}
	if want := "[rt,avg=3 rt,m=0x]"; fmt.Sprint(got) != want {
		t.Errorf("upstream holds %v, want %s (3 samples of 2 and one of 6 average to 3)", got, want)
	}
}
