package tree

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
)

// TestHammer runs writers, wildcard readers, "since" readers and a
// snapshotter at once (run it with -race). Final counts must be exact and no
// reader may see the version go backwards.
func TestHammer(t *testing.T) {
	const writers, readers, pushes = 8, 8, 100_000
	tr := New()
	if err := tr.SetAction([]string{"hits"}, ActionAdd); err != nil {
		t.Fatal(err)
	}
	keys := make([][]string, 40)
	for i := range keys {
		keys[i] = []string{"hits", fmt.Sprintf("g%d", i%4), fmt.Sprintf("k%d", i)}
	}
	total := []string{"hits", "total"}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < pushes; i++ {
				// Overlapping paths: every writer touches every key.
				d := []Delta{{Path: keys[(w+i)%len(keys)], Value: 1}, {Path: total, Value: 1}}
				if _, err := tr.Apply(d); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	var rg sync.WaitGroup
	patterns := []string{"hits,*,k1*", "**,k3", "hits", "hits,g2,"}
	for r := 0; r < readers; r++ {
		rg.Add(1)
		go func(r int) {
			defer rg.Done()
			p, _ := key.Parse(patterns[r%len(patterns)])
			var last uint64
			for {
				select {
				case <-done:
					return
				default:
				}
				var v uint64
				if r%2 == 0 {
					tr.Get(p)
					v = tr.Version()
				} else {
					var got []Entry
					got, v = tr.Since(p, last)
					for _, e := range got {
						if e.Version <= last || e.Version > v {
							t.Errorf("since %d: entry %s at version %d, current %d", last, e.Key, e.Version, v)
						}
					}
				}
				if v < last {
					t.Errorf("version went back from %d to %d", last, v)
				}
				last = v
				time.Sleep(100 * time.Microsecond) // readers keep coming, but let writers in
			}
		}(r)
	}
	rg.Add(1)
	go func() {
		defer rg.Done()
		path := filepath.Join(t.TempDir(), "tree.snap")
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := tr.WriteSnapshot(path, nil); err != nil {
				t.Error(err)
			}
			if _, _, err := LoadSnapshot(path); err != nil {
				t.Error(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	wg.Wait()
	close(done)
	rg.Wait()

	p, _ := key.Parse("hits,total")
	if got := tr.Get(p); len(got) != 1 || got[0].Value != writers*pushes {
		t.Errorf("total = %v, want %d", got, writers*pushes)
	}
	p, _ = key.Parse("hits,*,*")
	sum := 0.0
	for _, e := range tr.Get(p) {
		sum += e.Value
	}
	if sum != writers*pushes {
		t.Errorf("sum over keys = %v, want %d", sum, writers*pushes)
	}
	if tr.Version() != writers*pushes+1 {
		t.Errorf("version = %d, want %d", tr.Version(), writers*pushes+1)
	}
}
