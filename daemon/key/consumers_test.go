package key_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/graph"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// stored are the names of every key the consumers hold: commas, percent
// signs, slashes, dots, spaces, braces, stars and non-ASCII inside names.
var stored = [][]string{
	{"br", "ie", "7"}, {"br", "ie", "10"}, {"br", "ff", "7"},
	{"br", "webkit", "14.0"}, {"br", "webkit", "13.0"},
	{"url", "/a/b"}, {"url", "/a,b"}, {"url", "50%"}, {"url", "/api/{id}"},
	{"url", "a b"}, {"url", "ünï"}, {"url", "日本"}, {"url", "x*y"},
	{"a", "b", "c", "d"},
}

// consumerCases are patterns with the stored keys (escaped) they select,
// and the same pattern as a Graphite path ("" when it has none: an empty
// segment).
var consumerCases = []struct {
	pattern, graphite string
	want              []string
}{
	{"br,ie,7", "br.ie.7", []string{"br,ie,7"}},
	{"br,*,7", "br.*.7", []string{"br,ff,7", "br,ie,7"}},
	{"br,,7", "", []string{"br,ff,7", "br,ie,7"}},
	{"br,ie,1*", "br.ie.1*", []string{"br,ie,10"}},
	{"br,ie,?", "br.ie.?", []string{"br,ie,7"}},
	{"br,ie,[0-9]", "br.ie.[0-9]", []string{"br,ie,7"}},
	{"br,ie,[!7]*", "br.ie.[!7]*", []string{"br,ie,10"}},
	{"br,{ie,ff},7", "br.{ie,ff}.7", []string{"br,ff,7", "br,ie,7"}},
	{"br,{ie,ff},1*", "br.{ie,ff}.1*", []string{"br,ie,10"}},
	{"br,webkit,14.0", "br.webkit.14%2E0", []string{"br,webkit,14.0"}},
	{"br,webkit,1?.0", "br.webkit.1?%2E0", []string{"br,webkit,13.0", "br,webkit,14.0"}},
	{"br,**", "br.**", []string{"br,ff,7", "br,ie,10", "br,ie,7", "br,webkit,13.0", "br,webkit,14.0"}},
	{"**,7", "**.7", []string{"br,ff,7", "br,ie,7"}},
	{"a,**,d", "a.**.d", []string{"a,b,c,d"}},
	{"a,**,**,c,*", "a.**.**.c.*", []string{"a,b,c,d"}},
	{"url,/a/b", "url./a/b", []string{"url,/a/b"}},
	{"url,/a*", "url./a*", []string{"url,/a%2Cb", "url,/a/b", "url,/api/{id}"}},
	{"url,/a%2Cb", "url./a%2Cb", []string{"url,/a%2Cb"}},
	{"url,/a%2cb", "url./a%2cb", []string{"url,/a%2Cb"}},
	{"url,*%2C*", "url.*%2C*", []string{"url,/a%2Cb"}},
	{"url,/a[%2C/]b", "url./a[%2C/]b", []string{"url,/a%2Cb", "url,/a/b"}},
	{"url,/a[!/]b", "url./a[!/]b", []string{"url,/a%2Cb"}},
	{"url,50%25", "url.50%25", []string{"url,50%25"}},
	{"url,/a?b", "url./a?b", []string{"url,/a%2Cb", "url,/a/b"}},
	{"url,50?", "url.50?", []string{"url,50%25"}},
	{"url,*C*", "url.*C*", nil},
	{"url,*%25", "url.*%25", []string{"url,50%25"}},
	{"url,5?%", "", nil}, // a bad escape: an error everywhere (checked below)
	{"url,/api/{id}", "", []string{"url,/api/{id}"}},
	{"url,/api/%7Bid%7D", "url./api/%7Bid%7D", []string{"url,/api/{id}"}},
	{"url,a b", "url.a b", []string{"url,a b"}},
	{"url,a%20b", "url.a%20b", []string{"url,a b"}},
	{"url,* *", "url.* *", []string{"url,a b"}},
	{"url,ünï", "url.ünï", []string{"url,ünï"}},
	{"url,?n?", "url.?n?", []string{"url,ünï"}},
	{"url,日?", "url.日?", []string{"url,日本"}},
	{"url,%E6%97%A5*", "url.%E6%97%A5*", []string{"url,日本"}},
	{"url,x%2Ay", "url.x%2Ay", []string{"url,x*y"}},
	{"url,x*", "url.x*", []string{"url,x*y"}},
	{"nothing,*", "nothing.*", nil},
}

// TestConsumersAgree runs every pattern through every consumer of the key
// language and checks each selects the same keys: the pattern itself (by
// names and by its regexp over escaped keys), tree reads, trend queries
// and key listings on the embedded VictoriaMetrics, graphs (their trend
// source, which views use too) and the Graphite API (render and find).
func TestConsumersAgree(t *testing.T) {
	ctx := context.Background()
	tr := tree.New()
	var deltas []tree.Delta
	for _, names := range stored {
		deltas = append(deltas, tree.Delta{Path: names, Value: 1})
	}
	if _, err := tr.Merge(&tree.Push{Deltas: deltas}); err != nil {
		t.Fatal(err)
	}
	be, err := trend.OpenEmbedded(t.TempDir(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	store := trend.New(trend.Options{Backend: be, Interval: time.Second, Now: func() time.Time { return now }})
	t.Cleanup(func() { store.Close() })
	all, _ := key.Parse("**")
	for i := range 3 {
		if err := store.WriteAt(now.Add(time.Duration(i-3)*time.Second), tr.Get(all)); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	from, until := now.Add(-time.Minute), now
	source := graph.FromTrend(store)

	consumers := 0
	for _, c := range consumerCases {
		p, err := key.Parse(c.pattern)
		if c.want == nil && strings.HasPrefix(c.pattern, "url,5?%") {
			if err == nil {
				t.Errorf("%q: parsed, want an error", c.pattern)
			}
			if _, err := store.Keys(ctx, c.pattern, from, until); err == nil {
				t.Errorf("%q: trend accepts it", c.pattern)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		want := c.want
		slices.Sort(want)
		got := map[string][]string{}
		add := func(consumer string, keys ...string) {
			if got[consumer] == nil {
				got[consumer] = []string{}
			}
			got[consumer] = append(got[consumer], keys...)
		}
		var treeWant []string
		for _, names := range stored {
			k := key.Join(names)
			if p.Match(names) {
				add("key.Match", k)
			}
			if p.MatchKey(k) {
				add("key.MatchKey", k)
			}
			// A tree read returns a matched node's whole subtree.
			for n := 1; n <= len(names); n++ {
				if p.Match(names[:n]) {
					treeWant = append(treeWant, k)
					break
				}
			}
		}
		add("key.Match")
		add("key.MatchKey")
		for _, e := range tr.Get(p) {
			add("tree.Get", e.Key)
		}
		add("tree.Get")
		keys, err := store.Keys(ctx, c.pattern, from, until)
		if err != nil {
			t.Errorf("%q: trend keys: %v", c.pattern, err)
		}
		add("trend.Keys", keys...)
		res, err := store.Query(ctx, c.pattern, from, until, 10, trend.FnAuto)
		if err != nil {
			t.Errorf("%q: trend query: %v", c.pattern, err)
		} else {
			add("trend.Query")
			for _, s := range res.Series {
				add("trend.Query", s.Key)
			}
		}
		series, _, err := source.Series(ctx, c.pattern, from, until, 10, "")
		if err != nil {
			t.Errorf("%q: graph source: %v", c.pattern, err)
		}
		add("graph")
		for _, s := range series {
			add("graph", s.Name)
		}
		if c.graphite != "" {
			gs, err := store.RenderGraphite(ctx, c.graphite, from, until, 10)
			if err != nil {
				t.Errorf("%q: graphite render: %v", c.graphite, err)
			}
			add("graphite.Render")
			for _, s := range gs {
				add("graphite.Render", key.FromGraphite(s.Target))
			}
			gp, err := key.ParseGraphite(c.graphite)
			if err != nil {
				t.Errorf("%q: %v", c.graphite, err)
			} else if _, fixed := gp.Depth(); fixed {
				nodes, err := store.FindGraphite(ctx, c.graphite, from, until)
				if err != nil {
					t.Errorf("%q: graphite find: %v", c.graphite, err)
				}
				add("graphite.Find")
				for _, n := range nodes {
					if n.Leaf == 1 {
						add("graphite.Find", key.FromGraphite(n.ID))
					}
				}
			}
		}
		for consumer, keys := range got {
			consumers = max(consumers, len(got))
			slices.Sort(keys)
			w := want
			if consumer == "tree.Get" {
				slices.Sort(treeWant)
				w = treeWant
			}
			if !slices.Equal(keys, w) && !(len(keys) == 0 && len(w) == 0) {
				t.Errorf("%s selects %q by %s, want %q", c.pattern, keys, consumer, w)
			}
		}
	}
	t.Logf("%d patterns through up to %d consumers", len(consumerCases), consumers)
}
