package app

import (
	"context"
	"fmt"
	"log"
	"strings"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/ingest"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/metric"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/trend"
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
	// late, in the daemon, dates lines more than a tick old (a backlog,
	// a replay, pushed old lines) at their own times in the trend store
	// (trend.Follower.Late) instead of the next tick; nil: every line
	// counts at the tick (the offline replay ticks by the log's clock).
	late *trend.Follower
	// lateLines counts the lines dated late (any source): /status's
	// ingest.late_lines, which tells the realtime page a tick merged old
	// lines even when the backlog was read within it.
	lateLines atomic.Uint64
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
	r := f.runDated(ctx, fs, pre, lines, first)
	f.bad.Add(uint64(r.Bad))
	return r, nil
}

// runDated runs lines through the pipes; with f.late, lines older than a
// tick run through the trend follower's Late target of their interval.
func (f *Feed) runDated(ctx context.Context, fs []*logformat.Format, pre []string, lines [][]byte, first int) pipes.Result {
	if f.late == nil {
		return f.pipes.RunFrom(ctx, fs, pre, lines, first)
	}
	var total pipes.Result
	f.late.Split(lines, timeOf(fs), time.Now(), func(part [][]byte, late *trend.Late) error {
		c := ctx
		if late != nil {
			c = pipes.WithTarget(ctx, late)
			f.lateLines.Add(uint64(len(part)))
		}
		addResult(&total, f.pipes.RunFrom(c, fs, pre, part, first))
		first += len(part)
		return nil
	})
	return total
}

// addResult adds r to total.
func addResult(total *pipes.Result, r pipes.Result) {
	total.Lines += r.Lines
	total.Bad += r.Bad
	total.Numbers += r.Numbers
	total.Markers += r.Markers
	total.Version = max(total.Version, r.Version)
	total.Errors = append(total.Errors, r.Errors[:min(len(r.Errors), max(0, 5-len(total.Errors)))]...)
}

// timeOf returns a function giving a line's own time, parsed with the
// first of fs that reads it (one goroutine at a time).
func timeOf(fs []*logformat.Format) func(line []byte) (time.Time, bool) {
	parsers := make([]*logformat.Parser, len(fs))
	for i, f := range fs {
		parsers[i] = f.NewParser()
	}
	var rec logformat.Record
	return func(line []byte) (time.Time, bool) {
		for _, p := range parsers {
			if p.Parse(line, &rec) == nil && rec.Has&logformat.FieldTime != 0 {
				return rec.Time, true
			}
		}
		return time.Time{}, false
	}
}

// PushHook is the /push hook for access-log lines (pipes.Manager.PushHook,
// with old lines dated as Run dates them); formats as for
// pipes.Manager.Lines.
func (f *Feed) PushHook(formats []string) push.AccessLogFunc {
	if len(formats) == 0 {
		formats = pipes.PushFormats
	}
	return func(lines []string) (push.AccessLogResult, error) {
		fs := make([]*logformat.Format, 0, len(formats))
		for _, s := range formats {
			lf, err := f.pipes.Format(s)
			if err != nil {
				return push.AccessLogResult{}, fmt.Errorf("log_format %q: %w", s, err)
			}
			fs = append(fs, lf)
		}
		bs := make([][]byte, 0, len(lines))
		for _, l := range lines {
			if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
				bs = append(bs, []byte(l))
			}
		}
		r := f.runDated(context.Background(), fs, nil, bs, 0)
		return push.AccessLogResult{Lines: r.Lines, Bad: r.Bad, Numbers: r.Numbers, Markers: r.Markers,
			Version: r.Version, Errors: r.Errors}, nil
	}
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
