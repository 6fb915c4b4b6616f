package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/ingest"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend"
	"github.com/canopy-dev/canopy/sdk/logformat"
)

// cmdReplay reads old logs through the pipes into a fresh tree:
//
//	canopyd replay [--log-format F] [--print] [--trend] FILE...
//
// Files may be gzipped. With --trend the daemon's trend store (in --data;
// the daemon must not be running) is back-filled at the lines' own times.
func cmdReplay(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	logFormat := fs.String("log-format", "", "nginx log_format text or preset (combined, main, json; default: whichever of main, combined, JSON parses)")
	prefix := fs.String("prefix", "", "tree prefix for the replayed lines")
	print := fs.Bool("print", false, "write the final tree to stdout as the flat JSON list")
	dataDir := fs.String("data", "", "data folder: WASM compilation cache; trend store with --trend (default as the daemon's)")
	configPath := fs.String("config", config.DefaultFile, "YAML config file (pipes and trend sections; optional)")
	backfill := fs.Bool("trend", false, "back-fill the trend store in --data at the lines' own times (stop the daemon first)")
	progress := fs.String("progress", "auto", "progress display: bar, plain, none or auto (bar on a terminal)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the replay (after the pipes are loaded) to this file (go tool pprof)")
	trendFlags := trend.RegisterFlags(fs)
	pipeFl := RegisterPipeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	pipeFl.DirFromFlag = flagSetIn(fs, "pipes")
	if fs.NArg() == 0 {
		return errors.New("usage: canopyd replay [--log-format F] [--print] FILE…")
	}
	cfg, t, pm, err := openOffline(fs, *configPath, dataDir, pipeFl)
	if err != nil {
		return err
	}
	defer pm.close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	pm.Watch(ctx)
	var store *trend.Store
	if *backfill {
		if store, err = trendFlags.Open(*dataDir, cfg.Trend.Remote, cfg.Trend.RemoteRead); err != nil {
			return err
		}
		defer store.Close()
	}
	feed := NewFeed(pm.Manager)
	opt, err := replayOptions(ingest.Source{Name: "replay", LogFormat: *logFormat, Prefix: *prefix}, feed, t, store)
	if err != nil {
		return err
	}
	// The pipes load in the background (lines would wait for them): the
	// figure below is the replay's alone.
	select {
	case <-pm.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	stopProfile := func() {}
	if *cpuProfile != "" {
		if stopProfile, err = StartCPUProfile(*cpuProfile); err != nil {
			return err
		}
		defer func() { stopProfile() }() // on an error return
	}
	start := time.Now()
	opt.Progress = progressReporter(progressMode(*progress), os.Stderr, start)
	res, err := ingest.Replay(ctx, fs.Args(), opt)
	if err != nil {
		return err
	}
	// One pipe tick at the end, as the live clock would give: pipes that
	// write at ticks (latency's percentiles, visitors' held-back estimates)
	// write what the whole log left them.
	pm.Manager.Tick(ctx, time.Now())
	el := time.Since(start)
	stopProfile()
	stopProfile = func() {}
	if store != nil {
		if err := store.Flush(context.Background()); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "canopyd replay: %d lines (%d bad, %d too long, %d invalid UTF-8) in %.2fs: %.0f lines/s",
		res.Lines, feed.Bad(), res.TooLong, res.InvalidUTF8, el.Seconds(), float64(res.Lines)/el.Seconds())
	if res.Ticks > 0 {
		fmt.Fprintf(os.Stderr, "; %d trend points back-filled from %s to %s", res.Ticks, res.First.Format(time.RFC3339), res.Last.Format(time.RFC3339))
	}
	fmt.Fprintln(os.Stderr)
	if *print {
		all, _ := key.Parse("**")
		entries := t.Get(all)
		if entries == nil {
			entries = []tree.Entry{}
		}
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(entries)
	}
	return nil
}

// StartCPUProfile profiles the process into path until the returned stop
// (canopyd replay -cpuprofile and the daemon's -cpuprofile).
func StartCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cannot create CPU profile %q: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot start CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func flagSetIn(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// replayOptions wires a replay to the feed and, when store is set, to the
// trend store: the log's clock ticks it at every interval boundary.
func replayOptions(src ingest.Source, feed *Feed, t *tree.Tree, store *trend.Store) (ingest.ReplayOptions, error) {
	opt := ingest.ReplayOptions{Source: src, Consumer: feed}
	if store == nil {
		return opt, nil
	}
	var err error
	if opt.TimeOf, err = lineTime(src, feed); err != nil {
		return opt, err
	}
	var version uint64
	opt.Interval = store.Interval()
	opt.Tick = func(boundary time.Time) error {
		v, err := store.ReplayChanges(t, version, boundary)
		version = v
		t.Tick() // a new averaging window, as the live clock does
		return err
	}
	return opt, nil
}

// lineTime returns a function giving a line's own time, parsed with the
// source's log format (or each of pipes.PushFormats in turn).
func lineTime(src ingest.Source, feed *Feed) (func(line []byte) (time.Time, bool), error) {
	specs := pipes.PushFormats
	if src.LogFormat != "" {
		specs = []string{src.LogFormat}
	}
	var fs []*logformat.Format
	for _, s := range specs {
		f, err := feed.pipes.Format(s)
		if err != nil {
			return nil, fmt.Errorf("log_format %q: %w", s, err)
		}
		fs = append(fs, f)
	}
	return timeOf(fs), nil
}

// replayer serves the daemon's /replay: replays run through the daemon's
// feed, which merges them into its tree and writes the lines older than a
// tick at their own times in the trend store (Feed.late), as it does a
// followed log's backlog.
func replayer(feed *Feed) *ingest.Replayer {
	return &ingest.Replayer{Options: func(src ingest.Source) ingest.ReplayOptions {
		return ingest.ReplayOptions{Source: src, Consumer: feed}
	}}
}

// progressReporter shows a replay's progress: a bar with lines/s and ETA
// on a terminal, a plain line a second otherwise.
func progressReporter(mode string, w io.Writer, start time.Time) func(ingest.ReplayProgress) {
	switch mode {
	case "none":
		return nil
	case "bar":
		// A one-line bar redrawn in place with \r; at most ten redraws a
		// second so a fast replay does not spend its time on the terminal.
		var last time.Time
		return func(p ingest.ReplayProgress) {
			if !p.Done && time.Since(last) < 100*time.Millisecond {
				return
			}
			last = time.Now()
			el := time.Since(start)
			fmt.Fprint(w, "\r"+progressLine(p, el)+"\x1b[K")
			if p.Done {
				fmt.Fprintln(w)
			}
		}
	default:
		var last time.Time
		return func(p ingest.ReplayProgress) {
			if !p.Done && time.Since(last) < time.Second {
				return
			}
			last = time.Now()
			el := time.Since(start).Seconds()
			rate := float64(p.Lines) / max(el, 1e-9)
			pct, eta := 0.0, "?"
			if p.TotalBytes > 0 && p.Bytes > 0 {
				pct = 100 * float64(p.Bytes) / float64(p.TotalBytes)
				eta = time.Duration(el * float64(p.TotalBytes-p.Bytes) / float64(p.Bytes) * float64(time.Second)).Round(time.Second).String()
			}
			fmt.Fprintf(w, "replay: %5.1f%% %d lines, %.0f lines/s, ETA %s\n", pct, p.Lines, rate, eta)
		}
	}
}

// progressLine renders one bar frame: bytes done of total, lines, rate and
// the time left (or the time taken once done).
func progressLine(p ingest.ReplayProgress, el time.Duration) string {
	const width = 30
	frac := 0.0
	if p.TotalBytes > 0 {
		frac = min(1, max(0, float64(p.Bytes)/float64(p.TotalBytes)))
	}
	if p.Done {
		frac = 1
	}
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	rate := float64(p.Lines) / max(el.Seconds(), 1e-9)
	tail := "ETA ?"
	switch {
	case p.Done:
		tail = "in " + el.Round(time.Second).String()
	case p.Bytes > 0 && p.TotalBytes > 0:
		left := time.Duration(el.Seconds() * float64(p.TotalBytes-p.Bytes) / float64(p.Bytes) * float64(time.Second))
		tail = "ETA " + left.Round(time.Second).String()
	}
	return fmt.Sprintf("replay %d lines, %.0f lines/s %3.0f%% [%s] %s/%s %s",
		p.Lines, rate, 100*frac, bar, sizeIEC(p.Bytes), sizeIEC(p.TotalBytes), tail)
}

// sizeIEC formats a byte count as 12 MiB.
func sizeIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i-1])
}

// openOffline is what replay and report share before reading logs: the
// config (-config, optional unless given), the data folder (created), a
// fresh tree and the pipes loaded into it.
func openOffline(fs *flag.FlagSet, configPath string, dataDir *string, pipeFl *PipeFlags) (*config.Config, *tree.Tree, *loadedPipes, error) {
	cfg, err := config.Load(configPath, !flagSetIn(fs, "config"))
	if err != nil {
		return nil, nil, nil, err
	}
	if *dataDir == "" {
		*dataDir = config.DefaultDataDir(configPath)
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("cannot create data folder %q: %w", *dataDir, err)
	}
	t := tree.New()
	pm, err := pipeFl.open(*dataDir, cfg, t)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, t, pm, nil
}
