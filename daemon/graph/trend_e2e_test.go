package graph

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend"
)

func TestMain(m *testing.M) {
	testenv.NoFsync()
	// The embedded trend store's storage library is set up once per
	// process, after flags (it reads VictoriaMetrics' own).
	flag.Parse()
	if err := trend.InitLibrary(32 << 20); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// TestGraphOverTrendStore draws history written by the real embedded trend
// store: the seed's cpu tree, ticked over an hour with a marker set for a
// while, comes back as a stacked cpu chart with a marker range.
func TestGraphOverTrendStore(t *testing.T) {
	be, err := trend.OpenEmbedded(t.TempDir(), 366*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clock := testNow.Add(-time.Hour)
	store := trend.New(trend.Options{Backend: be, Interval: time.Minute, Now: func() time.Time { return clock }})
	defer store.Close()

	tr := tree.New()
	var version uint64
	for i := 0; i < 60; i++ {
		marker := ""
		if i >= 20 && i < 30 {
			marker = `, "marker": "sth. wrong happened"`
		}
		body := fmt.Sprintf(`{"cpu": {"10.3.1.12": {"idle": %d, "sytem": %d, "user": %d%s}}, "defaultaction": "average"}`, 60+i%20, 10+i%5, 30-i%20, marker)
		if _, err := push.Merge(tr, []byte(body)); err != nil {
			t.Fatal(err)
		}
		version = store.WriteChanges(tr, version, store.Now())
		tr.Tick()
		clock = clock.Add(time.Minute)
	}
	if err := store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	g := newTestGraphs(Options{Trend: FromTrend(store), Tree: tr})
	texts := svgTexts(t, mustDraw(t, g, "/graph/cpu,10.3.1.12,*.svg?style=cpu&from=-1h&until=now", nil))
	for _, want := range []string{"cpu,10.3.1.12,*", "user", "sytem", "idle", "100%", "sth. wrong happened"} {
		if !slices.Contains(texts, want) {
			t.Errorf("graph over the trend store lacks %q: %q", want, texts)
		}
	}
	if slices.Contains(texts, "no data") {
		t.Errorf("graph over the trend store says no data")
	}
	if dir := os.Getenv("GRAPH_SAMPLES"); dir != "" {
		for _, q := range []string{"cpu,10.3.1.12,*.png?style=cpu&from=-1h", "cpu,10.3.1.12,*.png?from=-1h&type=area&theme=dark&title=", "cpu,10.3.1.12.png?style=url"} {
			body := mustDraw(t, g, "/graph/"+q, nil)
			name := strings.NewReplacer("/", "_", "?", "_", "&", "_", "*", "x").Replace(q)
			if err := os.WriteFile(filepath.Join(dir, "e2e-"+name+".png"), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
