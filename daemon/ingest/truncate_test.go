package ingest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCopyTruncateWhileConsuming: the reader is inside Consume when the log
// is copied and truncated, with more lines already buffered; those, the
// rest from the copy and the new lines must each count once.
func TestCopyTruncateWhileConsuming(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	var b strings.Builder
	for i := 0; i < 205; i++ {
		b.WriteString(numberedLine(i))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c, block := followBlocked(t, path)

	time.Sleep(100 * time.Millisecond) // the reader is blocked in its first Consume
	data, _ := os.ReadFile(path)
	os.WriteFile(path+".1", data, 0o644)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	for i := 205; i < 215; i++ {
		f.WriteString(numberedLine(i))
	}
	f.Close()
	close(block)
	for deadline := time.Now().Add(5 * time.Second); c.total.Load() < 215 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	for i, s := range c.seen[:215] {
		if s != 1 {
			t.Errorf("line %d counted %d times", i, s)
		}
	}
	if c.total.Load() != 215 {
		t.Errorf("counted %d lines, want 215", c.total.Load())
	}
}

// TestBehindAcrossRotations: the reader is stuck in Consume while the log
// is rotated three times (rename, copytruncate, rename); the files it never
// saw as the live file are found among the rotated names and read once.
func TestBehindAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	write := func(p string, from, to int, flag int) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			f.WriteString(numberedLine(i))
		}
		f.Close()
		time.Sleep(10 * time.Millisecond) // distinct modification times
	}
	write(path, 0, 100, os.O_APPEND)
	c, block := followBlocked(t, path)
	time.Sleep(100 * time.Millisecond)

	os.Rename(path, path+".1") // rename rotation: R -> .1, B created
	write(path, 100, 150, os.O_APPEND)
	os.Rename(path+".1", path+".2") // copytruncate of B
	data, _ := os.ReadFile(path)
	os.WriteFile(path+".1", data, 0o644)
	time.Sleep(10 * time.Millisecond)
	write(path, 150, 180, os.O_TRUNC)
	os.Rename(path+".2", path+".3") // rename rotation: B -> .1, C created
	os.Rename(path+".1", path+".2")
	os.Rename(path, path+".1")
	write(path, 180, 200, os.O_APPEND)
	close(block)

	for deadline := time.Now().Add(5 * time.Second); c.total.Load() < 200 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	for i, s := range c.seen[:200] {
		if s != 1 {
			t.Errorf("line %d counted %d times", i, s)
		}
	}
	if c.total.Load() != 200 {
		t.Errorf("counted %d lines, want 200", c.total.Load())
	}
}

// followBlocked follows path in batches of 10 lines into a counter, with
// the first Consume stuck until block is closed (the reader goes on until
// its buffers are all in flight). The
// follower stops when the test ends.
func followBlocked(t *testing.T, path string) (*lineCounter, chan struct{}) {
	c := newLineCounter(300)
	block := make(chan struct{})
	var started atomic.Bool
	consumer := ConsumerFunc(func(bt *Batch) error {
		if !started.Swap(true) {
			<-block
		}
		return c.Consume(bt)
	})
	in, err := New(Options{Files: []FileSource{{Path: path}}, Consumer: consumer, BatchLines: 10,
		PollInterval: 10 * time.Millisecond, RotateWait: 100 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	t.Cleanup(func() {
		select {
		case <-block:
		default:
			close(block) // let the reader out, or Run cannot return
		}
		cancel()
		<-done
	})
	return c, block
}
