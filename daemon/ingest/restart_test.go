package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRestartAcrossRotation: stop after a checkpoint, rotate while down
// (rename, then copytruncate), restart from the checkpoint: every line once.
func TestRestartAcrossRotation(t *testing.T) {
	for _, mode := range []string{"rename", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "access.log")
			appendLines := func(from, to int) {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				for i := from; i < to; i++ {
					f.WriteString(numberedLine(i))
				}
				f.Close()
			}
			c := newLineCounter(1000)
			run := func(meta []byte, until int64) []byte {
				in, err := New(Options{Files: []FileSource{{Path: path}}, Consumer: c, Checkpoint: meta,
					PollInterval: 10 * time.Millisecond, RotateWait: 50 * time.Millisecond, Logf: t.Logf})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { in.Run(ctx); close(done) }()
				for deadline := time.Now().Add(5 * time.Second); c.total.Load() < until && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(150 * time.Millisecond) // let retired files finish
				cancel()
				<-done
				var out []byte
				in.Checkpoint(func(m []byte) error { out = append([]byte(nil), m...); return nil })
				return out
			}
			appendLines(0, 300)
			meta := run(nil, 300)
			// While down: 100 more lines, the rotation, 100 lines in the new file.
			appendLines(300, 400)
			if mode == "rename" {
				if err := os.Rename(path, path+".1"); err != nil {
					t.Fatal(err)
				}
			} else {
				data, _ := os.ReadFile(path)
				os.WriteFile(path+".1", data, 0o644)
				os.Truncate(path, 0)
			}
			time.Sleep(10 * time.Millisecond)
			appendLines(400, 500)
			run(meta, 500)
			for i, s := range c.seen[:500] {
				if s != 1 {
					t.Fatalf("line %d counted %d times", i, s)
				}
			}
			if c.total.Load() != 500 {
				t.Fatalf("counted %d lines, want 500", c.total.Load())
			}
		})
	}
}
