package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// TestCheckpointMatchesApplied: with a file's batches consumed several at
// once and finishing out of order, every checkpoint's offset covers
// exactly the lines the consumer has applied: none of a batch still in
// flight, none missing of a batch done.
func TestCheckpointMatchesApplied(t *testing.T) {
	const n = 20_000
	for _, buffers := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("buffers=%d", buffers), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			var data []byte
			ends := make([]int64, n) // ends[i]: offset after line i
			for i := range n {
				data = append(data, numberedLine(i)...)
				ends[i] = int64(len(data))
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			c := newLineCounter(n)
			// Batches take different times, so later ones often finish first.
			slow := ConsumerFunc(func(b *Batch) error {
				time.Sleep(time.Duration(b.Start%7) * 50 * time.Microsecond)
				return c.Consume(b)
			})
			in, err := New(Options{Files: []FileSource{{Path: path}}, Consumer: slow, BatchLines: 50, Buffers: buffers,
				PollInterval: 10 * time.Millisecond, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { in.Run(ctx); close(done) }()
			check := func() (int64, error) {
				var off int64
				var applied int64
				err := in.Checkpoint(func(meta []byte) error {
					applied = c.total.Load()
					var cp checkpoint
					if err := json.Unmarshal(meta, &cp); err != nil {
						return err
					}
					if st := cp.Files[path]; len(st) == 1 {
						off = st[0].Offset
					}
					return nil
				})
				if err != nil {
					return 0, err
				}
				lines := int64(sort.Search(n, func(i int) bool { return ends[i] > off }))
				if off != 0 && (lines == 0 || ends[lines-1] != off) {
					return applied, fmt.Errorf("offset %d is not at a line's end", off)
				}
				if lines != applied {
					return applied, fmt.Errorf("offset %d covers %d lines, the consumer applied %d", off, lines, applied)
				}
				return applied, nil
			}
			checks := 0
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); checks++ {
				applied, err := check()
				if err != nil {
					t.Fatal(err)
				}
				if applied == n {
					break
				}
				time.Sleep(time.Millisecond)
			}
			cancel()
			<-done
			if applied, err := check(); err != nil || applied != n {
				t.Fatalf("after Run: %d lines applied, %v; want %d", applied, err, n)
			}
			for i, s := range c.seen {
				if s != 1 {
					t.Fatalf("line %d applied %d times", i, s)
				}
			}
			t.Logf("%d checkpoints, each matching the lines applied", checks)
		})
	}
}

// TestBatchBufReset: a reset buffer keeps its arena for the next batch of
// a busy log, but drops a large one its last batch used little of.
func TestBatchBufReset(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fill, next int // bytes of the first batch, then of the second
		keep       bool
	}{
		{"small stays", 64 << 10, 1, true},
		{"large, used again", 2 << 20, 1 << 20, true},
		{"large, then little", 2 << 20, 100 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b batchBuf
			b.add(make([]byte, tc.fill))
			b.reset()
			b.add(make([]byte, tc.next))
			first := cap(b.arena)
			b.reset()
			if kept := cap(b.arena) == first && first > 0; kept != tc.keep {
				t.Fatalf("arena of cap %d after a %d-byte batch: kept %v, want %v", first, tc.next, kept, tc.keep)
			}
			if len(b.arena) != 0 || len(b.ends) != 0 || len(b.lines) != 0 {
				t.Fatalf("reset left %d bytes, %d ends, %d lines", len(b.arena), len(b.ends), len(b.lines))
			}
		})
	}
}
