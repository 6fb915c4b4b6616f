package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/ingest"
	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/logformat"
)

// defaultNginxLog is followed when nothing else is configured.
const defaultNginxLog = "/var/log/nginx/access.log"

// ingestFlags are the command-line settings of log following.
type ingestFlags struct {
	log        string
	logFormat  string
	fromEnd    bool
	rotateWait time.Duration
	poll       time.Duration
	defaults   bool
}

func registerIngestFlags(fs *flag.FlagSet) *ingestFlags {
	f := &ingestFlags{}
	fs.StringVar(&f.log, "log", "", "access log (path or glob) to follow, in addition to the config's sources")
	fs.StringVar(&f.logFormat, "log.format", "", "log_format of -log (default: nginx's main, combined or JSON, whichever parses)")
	fs.BoolVar(&f.fromEnd, "log.from-end", false, "start files that have no checkpoint at their end (like tail -F) instead of their beginning")
	fs.DurationVar(&f.rotateWait, "log.rotate-wait", 5*time.Second, "keep reading a renamed-away log this long after its last growth")
	fs.DurationVar(&f.poll, "log.poll", 250*time.Millisecond, "how often followed files are checked (file notifications also wake the reader)")
	fs.BoolVar(&f.defaults, "default-source", true, "with no log configured, follow "+defaultNginxLog+" when readable, else a generated, labelled demo log")
	return f
}

// logConsumer runs ingest batches through the pipes, counts the lines
// that do not parse and logs a sample of them at most every 10 s.
type logConsumer struct {
	pm      *pipes.Manager
	bad     atomic.Uint64
	lastLog atomic.Int64
}

func (c *logConsumer) Consume(b *ingest.Batch) error {
	formats := pipes.PushFormats
	if b.Source.LogFormat != "" {
		formats = []string{b.Source.LogFormat}
	}
	fs := make([]*logformat.Format, len(formats))
	for i, s := range formats {
		f, err := c.pm.Format(s)
		if err != nil {
			return fmt.Errorf("source %s: log_format: %w", b.Source.Name, err)
		}
		fs[i] = f
	}
	var pre []string
	if b.Source.Prefix != "" {
		var err error
		if pre, err = tree.SplitKey(b.Source.Prefix); err != nil {
			return fmt.Errorf("source %s: prefix %q: %w", b.Source.Name, b.Source.Prefix, err)
		}
	}
	r := c.pm.Run(context.Background(), fs, pre, b.Lines)
	if r.Bad > 0 {
		c.bad.Add(uint64(r.Bad))
		if now := time.Now().UnixNano(); now-c.lastLog.Load() > int64(10*time.Second) && len(r.Errors) > 0 {
			c.lastLog.Store(now)
			log.Printf("ingest: %s: %d bad lines in a batch of %d (%d so far; sampled at most every 10 s), e.g. %s",
				b.Source.Name, r.Bad, len(b.Lines), c.bad.Load(), r.Errors[0])
		}
	}
	return nil
}

// ingestRun is the running log side of the daemon.
type ingestRun struct {
	ing      *ingest.Ingester
	syslogs  []*ingest.SyslogListener
	consumer *logConsumer
	demo     string // the demo log, when following one
	done     chan struct{}
	cancel   context.CancelFunc
	once     sync.Once
}

// startIngest follows the configured sources (plus -log), serves the syslog
// listeners, and restores offsets from the snapshot's meta.
func startIngest(f *ingestFlags, cfg *config.Config, dataDir string, meta []byte, pm *pipes.Manager) (*ingestRun, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &ingestRun{consumer: &logConsumer{pm: pm}, done: make(chan struct{}), cancel: cancel}
	var files []ingest.FileSource
	for _, s := range cfg.Sources {
		files = append(files, ingest.FileSource{Path: s.Path, Source: ingest.Source{Name: s.Path, LogFormat: s.LogFormat, Prefix: s.Prefix}})
	}
	if f.log != "" {
		files = append(files, ingest.FileSource{Path: f.log, Source: ingest.Source{Name: f.log, LogFormat: f.logFormat}})
	}
	haveSyslog := false
	for _, l := range cfg.Listeners {
		haveSyslog = haveSyslog || l.Format == "syslog"
	}
	if len(files) == 0 && !haveSyslog && f.defaults {
		if fh, openErr := os.Open(defaultNginxLog); openErr == nil {
			fh.Close()
			log.Printf("ingest: no sources configured: following %s", defaultNginxLog)
			files = append(files, ingest.FileSource{Path: defaultNginxLog, Source: ingest.Source{Name: defaultNginxLog}})
		} else {
			demo, err := startDemo(ctx, dataDir)
			if err != nil {
				cancel()
				return nil, err
			}
			r.demo = demo
			log.Printf("ingest: DEMO SOURCE: no sources configured and %s is not readable (%v); following generated lines in %s. "+
				"Configure sources: in conf/canopyd.yaml or pass -log PATH (-default-source=false turns this off).", defaultNginxLog, openErr, demo)
			files = append(files, ingest.FileSource{Path: demo, Source: ingest.Source{Name: "demo", LogFormat: "main"}})
		}
	}
	ing, err := ingest.New(ingest.Options{Files: files, Consumer: r.consumer, Checkpoint: meta, FromEnd: f.fromEnd,
		RotateWait: f.rotateWait, PollInterval: f.poll, MaxLineBytes: cfg.Limits.MaxLineBytes})
	if err != nil {
		cancel()
		return nil, err
	}
	r.ing = ing
	for _, l := range cfg.Listeners {
		if l.Format != "syslog" {
			continue
		}
		if l.Proto != "udp" {
			cancel()
			return nil, fmt.Errorf("listener %s: nginx sends syslog over udp, not %s", l.Listen, l.Proto)
		}
		sl, err := ingest.ListenSyslog(ctx, l.Listen, ingest.Source{Prefix: l.Prefix}, r.consumer, log.Printf)
		if err != nil {
			cancel()
			r.closeSyslogs()
			return nil, err
		}
		log.Printf("listening on udp %s (nginx syslog)", sl.Addr())
		r.syslogs = append(r.syslogs, sl)
	}
	go func() {
		defer close(r.done)
		ing.Run(ctx)
	}()
	return r, nil
}

// stop ends following; when it returns every line read is applied, so a
// final checkpoint is exact.
func (r *ingestRun) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
		r.closeSyslogs()
	})
}

func (r *ingestRun) closeSyslogs() {
	for _, s := range r.syslogs {
		s.Close()
	}
}

// snapshot writes the tree with the ingest offsets, applying paused.
func (r *ingestRun) snapshot(t *tree.Tree, path string) error {
	return r.ing.Checkpoint(func(meta []byte) error { return t.WriteSnapshot(path, meta) })
}

// status is the ingest section of /status.
func (r *ingestRun) status() map[string]any {
	st := r.ing.Status()
	bad := r.consumer.bad.Load() + r.ing.Stats().TooLong.Load() + r.ing.Stats().InvalidUTF8.Load()
	for _, s := range r.syslogs {
		bad += s.BadFrames.Load()
	}
	st["bad_lines"] = bad
	if r.demo != "" {
		st["demo"] = "DEMO SOURCE: generated lines in " + r.demo + " (no log configured)"
	}
	var sl []map[string]any
	for _, s := range r.syslogs {
		sl = append(sl, s.Status())
	}
	if sl != nil {
		st["syslog"] = sl
	}
	return st
}

// startDemo appends generated access-log lines (nginx main format, current
// times) to DATA/demo-access.log: a burst first so the tree fills at
// once, then a few lines a second.
func startDemo(ctx context.Context, dataDir string) (string, error) {
	path := filepath.Join(dataDir, "demo-access.log")
	if fi, err := os.Stat(path); err == nil && fi.Size() > 64<<20 {
		os.Truncate(path, 0) // keep the demo small; the follower sees the truncation
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return "", fmt.Errorf("cannot create the demo log %q: %w", path, err)
	}
	const perSec = 20
	n := 10_000_000
	g, err := loggen.New(loggen.Config{Lines: n, Seed: uint64(time.Now().UnixNano()), Format: "main", Bad: 0.001,
		Start: time.Now().Add(-10 * time.Second), Span: time.Duration(n/perSec) * time.Second})
	if err != nil {
		fh.Close()
		return "", err
	}
	write := func(k int) {
		var buf []byte
		for i := 0; i < k && !g.Done(); i++ {
			buf = g.Next(buf)
		}
		fh.Write(buf)
	}
	write(200)
	go func() {
		defer fh.Close()
		t := time.NewTicker(time.Second / 4)
		defer t.Stop()
		for !g.Done() {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				write(perSec / 4)
			}
		}
	}()
	return path, nil
}
