package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestGlobSources follows every live file a glob names — also one created
// later — and skips rotated names the glob also matches.
func TestGlobSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, lines ...string) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			fmt.Fprintln(f, l)
		}
		f.Close()
	}
	write("a.log", "a1", "a2")
	write("b.log", "b1")
	write("a.log.1", "old1")           // rotated: skipped
	write("b-20260101.log", "old2")    // dated: skipped
	write("c.log.gz", "not really gz") // compressed: skipped
	var mu sync.Mutex
	got := map[string]string{}
	c := ConsumerFunc(func(b *Batch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range b.Lines {
			got[string(l)] = filepath.Base(b.File) + " " + b.Source.Prefix
		}
		return nil
	})
	in, err := New(Options{Files: []FileSource{{Path: filepath.Join(dir, "*.log*"), Source: Source{Prefix: "site"}}},
		Consumer: c, PollInterval: 10 * time.Millisecond, GlobInterval: 50 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(200 * time.Millisecond)
	write("new.log", "n1")
	write("a.log", "a3")
	want := map[string]string{"a1": "a.log site", "a2": "a.log site", "a3": "a.log site", "b1": "b.log site", "n1": "new.log site"}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Errorf("got %v, want %v", sorted(got), sorted(want))
	}
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
