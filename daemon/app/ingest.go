package app

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/ingest"
)

// defaultNginxLog is followed when nothing else is configured.
const defaultNginxLog = "/var/log/nginx/access.log"

// IngestFlags are the command-line settings of log following.
type IngestFlags struct {
	Log        string
	LogFormat  string
	FromEnd    bool
	RotateWait time.Duration
	Poll       time.Duration
	Defaults   bool
	// NginxLog is the log Defaults follows when readable (default
	// /var/log/nginx/access.log).
	NginxLog string
}

// RegisterIngestFlags adds the -log* and -default-source flags to fs.
func RegisterIngestFlags(fs *flag.FlagSet) *IngestFlags {
	f := &IngestFlags{}
	fs.StringVar(&f.Log, "log", "", "access log (path or glob) to follow, in addition to the config's sources")
	fs.StringVar(&f.LogFormat, "log.format", "", "log_format of -log (default: nginx's main, combined or JSON, whichever parses)")
	fs.BoolVar(&f.FromEnd, "log.from-end", false, "start files that have no checkpoint at their end (like tail -F) instead of their beginning")
	fs.DurationVar(&f.RotateWait, "log.rotate-wait", 5*time.Second, "keep reading a renamed-away log this long after its last growth")
	fs.DurationVar(&f.Poll, "log.poll", 250*time.Millisecond, "how often followed files are checked (file notifications also wake the reader)")
	fs.BoolVar(&f.Defaults, "default-source", true, "with no log configured, follow -default-source.path when readable, else a generated, labelled demo log")
	fs.StringVar(&f.NginxLog, "default-source.path", defaultNginxLog, "the nginx log -default-source follows")
	return f
}

// ingestRun is the log side of the daemon: followed files and nginx
// syslog listeners, fed to the pipes through feed.
type ingestRun struct {
	ing     *ingest.Ingester
	cfg     *config.Config
	feed    *Feed
	demo    *demoLog // when following one
	syslogs []*ingest.SyslogListener
	done    chan struct{}
	cancel  context.CancelFunc
	once    sync.Once
}

// newIngest sets up following the configured sources (plus -log) from the
// offsets in the snapshot's meta; start runs it.
func newIngest(f IngestFlags, cfg *config.Config, dataDir string, meta []byte, feed *Feed) (*ingestRun, error) {
	r := &ingestRun{cfg: cfg, feed: feed}
	warnings := cfg.CheckSources()
	if f.Log != "" {
		if w := config.CheckSource("-log", f.Log); w != "" {
			warnings = append(warnings, w)
		}
	}
	for _, w := range warnings {
		log.Printf("ingest: %s", w)
	}
	var files []ingest.FileSource
	for _, s := range cfg.Sources {
		files = append(files, ingest.FileSource{Path: s.Path, Source: ingest.Source{Name: s.Path, LogFormat: s.LogFormat, Prefix: s.Prefix}})
	}
	if f.Log != "" {
		files = append(files, ingest.FileSource{Path: f.Log, Source: ingest.Source{Name: f.Log, LogFormat: f.LogFormat}})
	}
	haveSyslog := false
	for _, l := range cfg.Listeners {
		haveSyslog = haveSyslog || l.Format == "syslog"
	}
	nginxLog := cmp.Or(f.NginxLog, defaultNginxLog)
	if len(files) == 0 && !haveSyslog && f.Defaults {
		if fh, openErr := os.Open(nginxLog); openErr == nil {
			fh.Close()
			log.Printf("ingest: no sources configured: following %s", nginxLog)
			files = append(files, ingest.FileSource{Path: nginxLog, Source: ingest.Source{Name: nginxLog}})
		} else {
			demo, err := openDemo(dataDir)
			if err != nil {
				return nil, err
			}
			r.demo = demo
			log.Printf("ingest: DEMO SOURCE: no sources configured and %s is not readable (%v); following generated lines in %s. "+
				"Configure sources: in conf/canopyd.yaml or pass -log PATH (-default-source=false turns this off).", nginxLog, openErr, demo.path)
			files = append(files, ingest.FileSource{Path: demo.path, Source: ingest.Source{Name: "demo", LogFormat: "main"}})
		}
	}
	ing, err := ingest.New(ingest.Options{Files: files, Consumer: feed, Checkpoint: meta, FromEnd: f.FromEnd,
		RotateWait: f.RotateWait, PollInterval: f.Poll, MaxLineBytes: cfg.Limits.MaxLineBytes})
	if err != nil {
		r.demo.close()
		return nil, err
	}
	r.ing = ing
	return r, nil
}

// start serves the syslog listeners and follows the files until stop;
// pushed says whether any push arrived (it stops a demo source).
func (r *ingestRun) start(ctx context.Context, pushed func() bool) error {
	ctx, r.cancel = context.WithCancel(ctx)
	for _, l := range r.cfg.Listeners {
		if l.Format != "syslog" {
			continue
		}
		if l.Proto != "udp" {
			return fmt.Errorf("listener %s: nginx sends syslog over udp, not %s", l.Listen, l.Proto)
		}
		sl, err := ingest.ListenSyslog(ctx, l.Listen, ingest.Source{Prefix: l.Prefix}, r.feed, log.Printf)
		if err != nil {
			return err
		}
		log.Printf("listening on udp %s (nginx syslog)", sl.Addr())
		r.syslogs = append(r.syslogs, sl)
	}
	r.demo.start(ctx, pushed)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		// Files are read only once the pipes are in (a batch would wait
		// for them anyway), so a stop during a cold start is prompt.
		select {
		case <-r.feed.pipes.Ready():
		case <-ctx.Done():
			return
		}
		r.ing.Run(ctx)
	}()
	return nil
}

// stop ends following; when it returns every line read is applied, so a
// final checkpoint is exact.
func (r *ingestRun) stop() {
	r.once.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		if r.done != nil {
			<-r.done
		}
		for _, s := range r.syslogs {
			s.Close()
		}
		r.demo.close()
	})
}

// paused calls fn with applying paused and the ingest offsets of what
// the tree holds then (to write with a snapshot).
func (r *ingestRun) paused(fn func(meta []byte) error) error {
	return r.ing.Checkpoint(fn)
}

// status is the ingest section of /status.
func (r *ingestRun) status() map[string]any {
	st := r.ing.Status()
	bad := r.feed.Bad() + r.ing.Stats().TooLong.Load() + r.ing.Stats().InvalidUTF8.Load()
	for _, s := range r.syslogs {
		bad += s.BadFrames.Load()
	}
	st["bad_lines"] = bad
	st["late_lines"] = r.feed.lateLines.Load()
	if r.demo != nil {
		st["demo"] = r.demo.status()
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
