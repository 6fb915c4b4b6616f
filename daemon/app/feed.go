package app

import (
	"context"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/ingest"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/metric"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/sdk/logformat"
)

// Feed is canopy's one ingest path: a source's lines are parsed with its
// log_format, run through every pipe and merged into the tree under its
// prefix (pipes.Manager.RunFrom). Followed files, nginx syslog, replay
// and `canopyd pipe test` all go through Run.
type Feed struct {
	pipes   *pipes.Manager
	bad     atomic.Uint64
	lastLog atomic.Int64
	// lines counts live lines by source (file, syslog); nil: not counted.
	lines *metric.CounterVec
}

// NewFeed feeds lines to m.
func NewFeed(m *pipes.Manager) *Feed { return &Feed{pipes: m} }

// Run feeds lines of src that follow first others of it (bad-line samples
// are numbered from first+1) and returns when they are in the tree. A
// source without a log_format tries pipes.PushFormats in turn.
func (f *Feed) Run(ctx context.Context, src *ingest.Source, lines [][]byte, first int) (pipes.Result, error) {
	specs := pipes.PushFormats
	if src.LogFormat != "" {
		specs = []string{src.LogFormat}
	}
	fs := make([]*logformat.Format, len(specs))
	for i, s := range specs {
		lf, err := f.pipes.Format(s)
		if err != nil {
			return pipes.Result{}, fmt.Errorf("source %s: log_format: %w", src.Name, err)
		}
		fs[i] = lf
	}
	var pre []string
	if src.Prefix != "" {
		var err error
		if pre, err = key.Split(src.Prefix); err != nil {
			return pipes.Result{}, fmt.Errorf("source %s: prefix %q: %w", src.Name, src.Prefix, err)
		}
	}
	r := f.pipes.RunFrom(ctx, fs, pre, lines, first)
	f.bad.Add(uint64(r.Bad))
	return r, nil
}

// Consume is the ingest.Consumer of the daemon and replay: it feeds a
// batch and logs a sample of its bad lines at most every 10 s.
func (f *Feed) Consume(b *ingest.Batch) error {
	r, err := f.Run(context.Background(), b.Source, b.Lines, 0)
	if err != nil {
		return err
	}
	if f.lines != nil && !b.Replay {
		src := "file"
		if b.File == "" {
			src = "syslog"
		}
		f.lines.With(src).Add(len(b.Lines))
	}
	if r.Bad > 0 {
		if now := time.Now().UnixNano(); now-f.lastLog.Load() > int64(10*time.Second) && len(r.Errors) > 0 {
			f.lastLog.Store(now)
			log.Printf("ingest: %s: %d bad lines in a batch of %d (%d so far; sampled at most every 10 s), e.g. %s",
				b.Source.Name, r.Bad, len(b.Lines), f.bad.Load(), r.Errors[0])
		}
	}
	return nil
}

// Bad is how many lines fed so far did not parse.
func (f *Feed) Bad() uint64 { return f.bad.Load() }
