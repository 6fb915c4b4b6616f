// Package app is canopyd put together: a Daemon owns every subsystem
// (tree, ingest, pipes, trend, listeners, api, ui, graph, or the relay in
// relay mode), starts them in order and stops them in reverse. The
// subcommands (replay, pipe test, gen) live here too and feed lines
// through the same path as the live daemon (Feed).
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/clock"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/graph"
	"github.com/canopy-dev/canopy/daemon/listen"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/relay"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend"
	"github.com/canopy-dev/canopy/ui"
)

// Config is everything canopyd's flags and config files say.
type Config struct {
	Listen        string        // HTTP address
	DataDir       string        // snapshot, trend store, views, WASM cache
	SnapshotEvery time.Duration // how often the tree is checkpointed
	// File is canopyd.yaml (nil: defaults).
	File *config.Config
	// Relay, when set, makes the daemon a relay: pushes are forwarded to
	// its upstreams instead of kept in a tree (File is then unused).
	Relay *relay.Config
	// RelayPath is the file Relay was read from (its folder holds the
	// default pipes.d).
	RelayPath string
	Trend     *trend.Flags
	Pipes     PipeFlags
	Ingest    IngestFlags
}

// Daemon is a running canopyd. New opens it, Start serves, Stop ends it.
type Daemon struct {
	cfg      Config
	tree     *tree.Tree
	snapPath string
	trend    *trend.Store
	follower *trend.Follower // writes the tree's changes to trend, late lines at their times
	pipes    *loadedPipes
	ingest   *ingestRun
	api      *api.Server
	relay    *relay.Relay
	handler  http.Handler

	listeners []*listen.Listener
	http      *http.Server
	ln        net.Listener
	errc      chan error
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the loops Start runs
	stopOnce  sync.Once
	stopErr   error

	// The last checkpoints: /status and /metrics say when the tree was
	// last stored, so a full disk never passes for a stored tree.
	snapOK    atomic.Int64 // unix seconds of the last snapshot written (0: none)
	snapFails atomic.Uint64
	snapErr   atomic.Value // string: the last failure, "" after a success
}

// New opens every subsystem (the snapshot is restored, the trend store
// opened, the pipes loaded) without serving yet.
func New(cfg Config) (d *Daemon, err error) {
	if cfg.File == nil {
		cfg.File = &config.Config{}
	}
	if cfg.Trend == nil {
		cfg.Trend = &trend.Flags{Interval: 10 * time.Second, Retention: trend.Duration(365 * 24 * time.Hour), Memory: 256 << 20}
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 30 * time.Second
	}
	d = &Daemon{cfg: cfg, errc: make(chan error, 1)}
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data folder %q: %w", cfg.DataDir, err)
	}
	if cfg.Relay != nil {
		return d, d.openRelay()
	}
	return d, d.open()
}

// open builds the tree-keeping daemon.
func (d *Daemon) open() error {
	cfg := d.cfg.File
	d.snapPath = filepath.Join(d.cfg.DataDir, "tree.snap")
	t, meta, err := tree.LoadSnapshot(d.snapPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t = tree.New()
	case err != nil:
		return fmt.Errorf("cannot restore the tree: %w (move the file away to start empty)", err)
	default:
		log.Printf("restored %d nodes from %s", t.Len(), d.snapPath)
	}
	t.SetMaxNodes(push.LimitsFrom(cfg.Limits).MaxTreeNodes)
	d.tree = t
	if d.trend, err = d.cfg.Trend.Open(d.cfg.DataDir, cfg.Trend.Remote, cfg.Trend.RemoteRead); err != nil {
		return err
	}
	if d.pipes, err = d.cfg.Pipes.open(d.cfg.DataDir, cfg, t); err != nil {
		return err
	}
	// The trend baseline comes before anything can change the tree: a
	// counter made by the first line or push then starts from an explicit
	// zero, so its first increment is counted (the baseline itself is not).
	d.follower = d.trend.Follow(t)
	if err := d.followLateMark(); err != nil {
		return err
	}
	feed := NewFeed(d.pipes.Manager)
	feed.late = d.follower
	if d.ingest, err = newIngest(d.cfg.Ingest, cfg, d.cfg.DataDir, meta, feed); err != nil {
		return err
	}
	srv := api.New(api.Options{Tree: t, Limits: cfg.Limits, Tokens: cfg.Tokens,
		AccessLog: feed.PushHook(pushFormats(cfg.Pipes)), Status: d.status,
		FailedLines: func() uint64 { return d.pipes.Status().BadLines }})
	d.api = srv
	feed.lines = srv.Metrics().IngestLines
	registerSubsystemMetrics(srv.Metrics().Registry(), d.pipes.Status, d.trend.Status, d.ingest.status)
	srv.Metrics().Registry().Collect(listenerMetrics{d.listenerList}.collect)
	reg := srv.Metrics().Registry()
	reg.NewCounterFunc("canopy_snapshot_failures_total", "Tree snapshots that could not be written (disk full, read-only).", func() float64 { return float64(d.snapFails.Load()) })
	reg.NewGaugeFunc("canopy_snapshot_last_success_seconds", "Unix time of the last tree snapshot written (0: none since start).", func() float64 { return float64(d.snapOK.Load()) })
	reg.NewGaugeFunc("canopy_degraded", "1 while something is not being stored (snapshot failing, trend disk full); the live tree is still served.", func() float64 {
		if len(d.degraded()) > 0 {
			return 1
		}
		return 0
	})
	api.TrendRoutes(srv.Router(), d.trend, api.TreeUnits(t))
	api.ReplayRoutes(srv.Router(), replayer(feed))
	webUI, err := ui.New(ui.Options{ViewsDir: filepath.Join(d.cfg.DataDir, "views"), Tokens: cfg.Tokens})
	if err != nil {
		return err
	}
	webUI.Routes(srv.Router())
	api.GraphRoutes(srv.Router(), graph.New(graph.Options{Trend: graph.FromTrend(d.trend), Tree: t}), graphViews(webUI))
	d.handler = webUI.Wrap(srv)
	return nil
}

// status is /status beyond the tree's own fields.
func (d *Daemon) status() map[string]any {
	ls := []map[string]any{}
	for _, l := range d.listenerList() {
		ls = append(ls, l.Stats())
	}
	snap := map[string]any{"path": d.snapPath, "failures": d.snapFails.Load(), "last_success_unix": d.snapOK.Load()}
	if e, _ := d.snapErr.Load().(string); e != "" {
		snap["error"] = e
	}
	st := map[string]any{"trend": d.trend.Status(), "pipes": d.pipes.Status(), "ingest": d.ingest.status(), "listeners": ls, "snapshot": snap}
	if why := d.degraded(); len(why) > 0 {
		st["degraded"] = why
	}
	return st
}

// degraded lists what is not being stored right now, one line each.
func (d *Daemon) degraded() []string {
	var why []string
	if e, _ := d.snapErr.Load().(string); e != "" {
		why = append(why, "tree snapshots fail, the tree is served but not stored: "+e)
	}
	if ro, _ := d.trend.Status()["disk_full"].(bool); ro {
		why = append(why, fmt.Sprintf("trend storage disk is full (under %d MiB free): history is not stored until space is freed", trend.MinFreeDisk>>20))
	}
	return why
}

// lateMarkFile holds, in the data folder, the latest time a late point
// was written at (trend.Follower.LateMark), for the next run.
const lateMarkFile = "trend.latemark"

// followLateMark restores the late mark of the run before (none on a
// first start) and has the follower save it in the data folder.
func (d *Daemon) followLateMark() error {
	path := filepath.Join(d.cfg.DataDir, lateMarkFile)
	switch b, err := os.ReadFile(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("cannot read the trend late mark: %w", err)
	default:
		ts, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return fmt.Errorf("trend late mark %q: %w (move the file away to start without it)", path, err)
		}
		d.follower.SetLateMark(ts)
	}
	d.follower.OnLateMark(func(mark int64) error {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.FormatInt(mark, 10)+"\n"), 0o644); err != nil {
			return fmt.Errorf("cannot write %q: %w", tmp, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("cannot replace %q: %w", path, err)
		}
		return nil
	})
	return nil
}

// checkpoint writes a snapshot, then the late lines' points (see
// trendTick), and records how the snapshot went.
func (d *Daemon) checkpoint() error {
	return d.ingest.paused(func(meta []byte) error {
		err := d.snapshot(meta)
		d.follower.WriteLate()
		return err
	})
}

// trendTick writes the tick to the trend store. The points of late lines
// (history at the log's own times, see trend.Follower) are written only
// with ingest paused right after a snapshot that holds those lines: a
// restart, even after kill -9, then never reads them again, so none is
// counted twice (a counter's points are running totals: a second count
// written beside the first would read as a reset). A tick that has late
// lines to write therefore snapshots first; other ticks just pause ingest
// while they look.
func (d *Daemon) trendTick(now time.Time) {
	err := d.ingest.paused(func(meta []byte) error {
		var err error
		if d.follower.Pending() {
			err = d.snapshot(meta)
		}
		d.follower.Flush(now)
		return err
	})
	if err != nil {
		log.Printf("snapshot failed: %v", err)
	}
}

// snapshot writes the tree with meta and records how it went; callers
// have ingest paused.
func (d *Daemon) snapshot(meta []byte) error {
	err := d.tree.WriteSnapshot(d.snapPath, meta)
	if err != nil {
		d.snapFails.Add(1)
		d.snapErr.Store(err.Error())
		return err
	}
	d.snapOK.Store(time.Now().Unix())
	d.snapErr.Store("")
	return nil
}

// listenerList is the listeners Start opened (none before it: /status and
// /metrics are served only after).
func (d *Daemon) listenerList() []*listen.Listener { return d.listeners }

// Start opens the sockets and runs the loops (ingest, the clock,
// snapshots, HTTP) until ctx ends or Stop. Errors of the running HTTP
// server arrive on Err.
func (d *Daemon) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(ctx)
	if d.relay != nil {
		return d.startRelay(ctx)
	}
	d.pipes.Watch(ctx)
	pushed := func() bool { return d.api.Metrics().Pushes.Sum() > 0 }
	if err := d.ingest.start(ctx, pushed); err != nil {
		return err
	}
	m := d.api.Metrics()
	base := listen.Options{Tree: d.tree, Auth: d.api.Auth(), Limits: d.api.Limits(), AccessLog: d.api.AccessLog(),
		LinesIn: m.LinesIn, BadLines: m.BadLines, IngestLines: m.IngestLines, Pushes: m.Pushes, Backfill: d.trend, Live: d.trend.Interval(),
		Late:      func(end time.Time) listen.LateTarget { return d.follower.Late(end) },
		SetWindow: d.trend.Interval()} // StatsD flushes once a tick
	if err := d.startListeners(d.cfg.File.Listeners, base, ""); err != nil {
		return err
	}
	if err := d.serve(d.handler, d.api.Close); err != nil { // Close ends long-polls so shutdown is quick
		return err
	}
	// One clock: pipe ticks land in the tree, the trend store writes what
	// changed, then the tree starts a new averaging window.
	d.loop(func() {
		clock.Run(ctx, d.trend.Interval(), func(now time.Time) { d.pipes.Tick(ctx, now) }, d.trendTick, func(time.Time) { d.tree.Tick() })
	})
	d.loop(func() { d.snapshots(ctx) })
	log.Printf("canopyd listening on http://%s (data %s)", d.Addr(), d.cfg.DataDir)
	return nil
}

// loop runs f on its own goroutine; Stop waits for it.
func (d *Daemon) loop(f func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// IdleTimeout is how long a keep-alive HTTP connection may wait for its
// next request (nginx's keepalive_timeout is 75 s).
const IdleTimeout = 60 * time.Second

// serve listens on cfg.Listen and serves h; onShutdown runs when Stop
// begins the HTTP shutdown.
func (d *Daemon) serve(h http.Handler, onShutdown func()) error {
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot serve HTTP on %s: %w", d.cfg.Listen, err)
	}
	d.ln = ln
	// ReadHeaderTimeout closes slowloris connections; IdleTimeout closes
	// keep-alive connections no request came on (without it net/http keeps
	// them forever: file descriptors held by clients that went quiet).
	// Long-polls and event streams are requests, not idle.
	d.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: IdleTimeout}
	if onShutdown != nil {
		d.http.RegisterOnShutdown(onShutdown)
	}
	go func() {
		if err := d.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- fmt.Errorf("cannot serve HTTP on %s: %w", d.cfg.Listen, err)
		}
	}()
	return nil
}

// Addr is the address HTTP is served on (after Start).
func (d *Daemon) Addr() string {
	if d.ln == nil {
		return d.cfg.Listen
	}
	return d.ln.Addr().String()
}

// Err delivers an error that ended serving HTTP.
func (d *Daemon) Err() <-chan error { return d.errc }

// snapshots checkpoints the tree every SnapshotEvery, and when the
// trend follower holds many late points, until ctx ends.
func (d *Daemon) snapshots(ctx context.Context) {
	tick := time.NewTicker(d.cfg.SnapshotEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.follower.Full():
			// A big backlog under a long tick: its late points are written
			// with a snapshot (see trendTick), now rather than later.
		}
		if err := d.checkpoint(); err != nil {
			log.Printf("snapshot failed: %v", err)
		}
	}
}

// Stop ends serving, applies every line read, writes the final snapshot
// and closes the subsystems. It is safe to call more than once and after
// a failed New or Start.
func (d *Daemon) Stop() error {
	d.stopOnce.Do(func() { d.stopErr = d.stop() })
	return d.stopErr
}

func (d *Daemon) stop() error {
	if d.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = d.http.Shutdown(sctx)
		cancel()
	}
	for _, l := range d.listeners {
		l.Close()
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	var err error
	if d.ingest != nil {
		d.ingest.stop() // every line read is applied before the last checkpoint
		if err = d.checkpoint(); err != nil {
			err = fmt.Errorf("final snapshot failed: %w", err)
		}
	}
	if d.pipes != nil {
		d.pipes.close()
	}
	if d.trend != nil {
		d.trend.Close()
	}
	if d.relay != nil {
		d.relay.Close()
	}
	return err
}

// startListeners opens the `listeners` sockets (except syslog, which
// ingest serves) with base's settings (sink, auth, limits, pipes hook,
// counters); who names the server in the log line.
func (d *Daemon) startListeners(cfgs []config.Listener, base listen.Options, who string) error {
	for _, c := range cfgs {
		if c.Format == "syslog" {
			continue
		}
		opt := base
		opt.Config = c
		l, err := listen.Start(opt)
		if err != nil {
			return err
		}
		log.Printf("%slistening on %s %s (%s)", who, c.Proto, l.Addr(), c.Format)
		d.listeners = append(d.listeners, l)
	}
	return nil
}
