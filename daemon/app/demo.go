package app

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
)

// demoLog appends generated access-log lines (nginx main format, current
// times) to DATA/demo-access.log: a burst first so the tree fills at
// once, then a few lines a second.
type demoLog struct {
	path string
	fh   *os.File
	gen  *loggen.Generator
	wg   sync.WaitGroup
	once sync.Once
	// stopped is set when real data made the demo stop writing.
	stopped atomic.Bool
}

// status is /status's ingest.demo: the UI shows a banner while running.
func (d *demoLog) status() map[string]any {
	st := map[string]any{"running": !d.stopped.Load(), "path": d.path}
	if d.stopped.Load() {
		st["note"] = "demo source stopped: real data arrived (a push); its lines stay in the tree until they age out"
	} else {
		st["note"] = "DEMO SOURCE: generated lines in " + d.path + " (no log configured; it stops at the first push)"
	}
	return st
}

const demoPerSec = 20

func openDemo(dataDir string) (*demoLog, error) {
	path := filepath.Join(dataDir, "demo-access.log")
	if fi, err := os.Stat(path); err == nil && fi.Size() > 64<<20 {
		os.Truncate(path, 0) // keep the demo small; the follower sees the truncation
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create the demo log %q: %w", path, err)
	}
	n := 10_000_000
	g, err := loggen.New(loggen.Config{Lines: n, Seed: uint64(time.Now().UnixNano()), Format: "main", Bad: 0.001,
		Start: time.Now().Add(-10 * time.Second), Span: time.Duration(n/demoPerSec) * time.Second})
	if err != nil {
		fh.Close()
		return nil, err
	}
	return &demoLog{path: path, fh: fh, gen: g}, nil
}

// start writes the burst, then a quarter second's lines every quarter
// second until ctx ends or realData says something else arrived (a push):
// the demo then stops, so made-up lines never mix with an operator's
// data for long. A nil demoLog does nothing.
func (d *demoLog) start(ctx context.Context, realData func() bool) {
	if d == nil {
		return
	}
	d.write(200)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(time.Second / 4)
		defer t.Stop()
		for !d.gen.Done() {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if realData() {
					d.stopped.Store(true)
					log.Printf("ingest: demo source stopped: real data arrived (a push)")
					return
				}
				d.write(demoPerSec / 4)
			}
		}
	}()
}

func (d *demoLog) write(k int) {
	var buf []byte
	for i := 0; i < k && !d.gen.Done(); i++ {
		buf = d.gen.Next(buf)
	}
	d.fh.Write(buf)
}

// close waits for the writer (its context must have ended) and closes
// the file.
func (d *demoLog) close() {
	if d == nil {
		return
	}
	d.once.Do(func() {
		d.wg.Wait()
		d.fh.Close()
	})
}
