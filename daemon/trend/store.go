package trend

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Options configures a Store.
type Options struct {
	// Backend holds the history (OpenEmbedded or OpenRemote).
	Backend Backend
	// Interval is the tick: how often changed numbers are written
	// (default 10 s).
	Interval time.Duration
	// Retention is how long points are kept (default one year). Points
	// older, or more than two days ahead, are refused with an error.
	Retention time.Duration
	// Refresh rewrites counters that did not change for this long
	// (default one hour), so a read never needs to look further back than
	// that to know a counter's previous total. Gauges are not rewritten: a
	// gauge that stops receiving goes stale.
	Refresh time.Duration
	// Stale is how long a gauge's sample stands when no other comes
	// (default two ticks); then it has no value (see kernel.go).
	Stale time.Duration
	// QueueBatches bounds the batches waiting for the backend (default 256).
	// A live tick that finds the queue full is dropped and counted rather
	// than wait: ingest never waits on disk.
	QueueBatches int
	// Logf reports write failures (default log.Printf).
	Logf func(format string, args ...any)
	// Now is the clock (tests).
	Now func() time.Time
}

// futureLimit is how far ahead lib/storage accepts rows.
const futureLimit = 2 * 24 * time.Hour

// Store records the tree's history into a Backend and answers queries.
type Store struct {
	opt   Options
	be    Backend
	queue chan batch
	done  chan struct{}

	mu          sync.Mutex // guards last, lastRefresh and runs
	last        map[string]lastPoint
	lastRefresh int64
	runs        map[string]*lateRun // late counts under a series' points (follow.go)
	// lateMark is the latest time a late point was written at (follow.go,
	// SetLateMark); restored counters not written since the start may
	// have late points up to it from before.
	lateMark int64
	restored int64 // lateMark as the last run left it
	started  int64 // when Baseline ran (unix ms)

	qmu     sync.RWMutex // senders hold it shared; Close takes it to close the queue
	closed  bool
	closing atomic.Bool // Close started: stop retrying a failing backend

	rowsQueued  atomic.Uint64
	rowsWritten atomic.Uint64
	rowsDropped atomic.Uint64 // queue full or backend failure
	rowsRefused atomic.Uint64 // outside retention
	ticks       atomic.Uint64
	tickNanos   atomic.Int64 // duration of the last tick's collection
	writeErrs   atomic.Uint64
	lastErr     atomic.Value // string
}

// lastPoint is what the store knows of a series: its latest point and,
// for counters the daemon follows, the tree's total at the last tick. The
// two differ once lines arrived late: their counts are in the tree's total
// but were written at the lines' own times, not at a tick (see follow.go).
type lastPoint struct {
	v    float64
	kind Kind
	ts   int64   // the latest point's time; 0: none written yet (a restored counter)
	tree float64 // counters: the tree's total at the last tick
	// wrote is when (wall clock, ms) the series was last written: quiet
	// counters are rewritten an hour after it. 0: restored and not
	// written yet.
	wrote int64
}

type batch struct {
	rows  []Row
	flush chan error // non-nil: a flush request, answered when all before it are stored
}

// New starts a Store writing to opt.Backend.
func New(opt Options) *Store {
	if opt.Interval <= 0 {
		opt.Interval = 10 * time.Second
	}
	if opt.Retention <= 0 {
		opt.Retention = 365 * 24 * time.Hour
	}
	if opt.Refresh <= 0 {
		opt.Refresh = time.Hour
	}
	if opt.Stale <= 0 {
		opt.Stale = 2 * opt.Interval
	}
	if opt.QueueBatches <= 0 {
		opt.QueueBatches = 256
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Store{
		opt:   opt,
		be:    opt.Backend,
		queue: make(chan batch, opt.QueueBatches),
		done:  make(chan struct{}),
		last:  map[string]lastPoint{},
	}
	go s.writer()
	return s
}

// Interval returns the tick.
func (s *Store) Interval() time.Duration { return s.opt.Interval }

// Retention returns how far back history is kept.
func (s *Store) Retention() time.Duration { return s.opt.Retention }

// Now returns the store's clock (Options.Now), which relative query times
// are read against.
func (s *Store) Now() time.Time { return s.opt.Now() }

func (s *Store) writer() {
	defer close(s.done)
	var flushed time.Time
	flush := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		flushed = time.Now()
		return s.be.Flush(ctx)
	}
	for b := range s.queue {
		if b.flush != nil {
			b.flush <- flush()
			continue
		}
		s.store(b.rows)
		// The storage makes rows searchable on its own within seconds;
		// flushing once the queue is idle (at most once a second) shows a
		// tick on graphs right away without slowing a replay down.
		if len(s.queue) == 0 && time.Since(flushed) >= time.Second {
			if err := flush(); err != nil {
				s.lastErr.Store(err.Error())
			}
		}
	}
}

// store writes one batch. A failing backend (a remote server restarting)
// is retried with growing pauses for as long as the store is open: the
// live tick keeps running and, once the queue is full, its points are
// dropped and counted instead. Since counters are running totals, a dropped
// tick costs resolution, not counts.
func (s *Store) store(rows []Row) {
	pause := 500 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.be.Add(ctx, rows)
		cancel()
		if err == nil {
			s.rowsWritten.Add(uint64(len(rows)))
			return
		}
		s.writeErrs.Add(1)
		s.lastErr.Store(err.Error())
		if s.closing.Load() || permanent(err) {
			s.rowsDropped.Add(uint64(len(rows)))
			s.opt.Logf("trend: dropped %d points: %v", len(rows), err)
			return
		}
		time.Sleep(pause)
		pause = min(2*pause, 10*time.Second)
	}
}

// permanent reports an error that retrying cannot fix (the server refused
// the data itself).
func permanent(err error) bool {
	var re *refusedError
	return errors.As(err, &re)
}

// allKeys selects the whole tree.
var allKeys = func() *key.Pattern {
	p, err := key.Parse("**")
	if err != nil {
		panic(err) // "**" is always valid
	}
	return p
}()

// WriteChanges queues what changed in t since version as points at now
// and returns the version to pass next time (0 the first time: everything
// is written). It never waits: when the queue is full the points are
// dropped and counted, so a slow backend cannot stall the clock.
func (s *Store) WriteChanges(t *tree.Tree, version uint64, now time.Time) uint64 {
	start := time.Now()
	entries, v := t.Since(allKeys, version)
	s.mu.Lock()
	rows := s.tickRows(now.UnixMilli(), entries, nil, false)
	s.mu.Unlock()
	s.enqueue(rows, false)
	s.ticks.Add(1)
	s.tickNanos.Store(int64(time.Since(start)))
	return v
}

// ReplayChanges is WriteChanges for replay, at a tick boundary of the
// log's own clock: it waits for room in the queue, and it says when the
// points fall outside the retention (see WriteAt).
func (s *Store) ReplayChanges(t *tree.Tree, version uint64, ts time.Time) (uint64, error) {
	entries, v := t.Since(allKeys, version)
	return v, s.WriteAt(ts, entries)
}

// WriteAt queues entries as points at ts: replay calls it with the log
// lines' own times and the tree entries that changed in that interval. It
// waits when the queue is full (replay should go at the store's pace).
// Points outside the retention, or more than two days ahead, would be
// dropped silently by the storage; they are refused here and the error
// says how many.
func (s *Store) WriteAt(ts time.Time, entries []tree.Entry) error {
	rows, refused := s.rowsFor(ts.UnixMilli(), entries, true)
	s.enqueue(rows, true)
	if refused > 0 {
		now := s.opt.Now()
		return &DroppedError{N: refused, At: ts, From: now.Add(-s.opt.Retention), Until: now.Add(futureLimit), Retention: s.opt.Retention}
	}
	return nil
}

// DroppedError says points were refused for falling outside the
// retention window; the others were written. Replay can report it and go
// on (errors.As).
type DroppedError struct {
	N           int
	At          time.Time // the points' time
	From, Until time.Time // the window accepted
	Retention   time.Duration
}

func (e *DroppedError) Error() string {
	return fmt.Sprintf("%d trend points at %s dropped: outside the retention window %s .. %s (-trend.retention=%s)",
		e.N, e.At.UTC().Format(time.RFC3339), e.From.UTC().Format(time.RFC3339), e.Until.UTC().Format(time.RFC3339), e.Retention)
}

// WriteRows queues rows as they are (benchmarks, imports); the caller must
// not change them afterwards. Rows outside the
// retention are refused, counted and reported like WriteAt's.
func (s *Store) WriteRows(rows []Row) error {
	lo, hi := s.window()
	kept := rows
	refused := 0
	for _, r := range rows {
		if r.TS < lo || r.TS > hi {
			refused++
		}
	}
	if refused > 0 {
		// Copy only when something must go: the common case queues the
		// caller's slice as it is.
		kept = make([]Row, 0, len(rows)-refused)
		for _, r := range rows {
			if r.TS >= lo && r.TS <= hi {
				kept = append(kept, r)
			}
		}
	}
	s.rowsRefused.Add(uint64(refused))
	s.enqueue(kept, true)
	if refused > 0 {
		return fmt.Errorf("%d trend points dropped: outside the retention window (-trend.retention=%s)", refused, s.opt.Retention)
	}
	return nil
}

func (s *Store) window() (lo, hi int64) {
	now := s.opt.Now()
	return now.Add(-s.opt.Retention).UnixMilli(), now.Add(futureLimit).UnixMilli()
}

// rowsFor turns entries into rows at ts and adds refresh rows for counters
// unchanged for Refresh. With fromZero, a counter this store has not seen
// yet gets a 0 just before its first value: a series' first point is a
// baseline for readers (see downsample), and a new counter did start at 0.
// unchanged for Refresh.
func (s *Store) rowsFor(ts int64, entries []tree.Entry, fromZero bool) ([]Row, int) {
	lo, hi := s.window()
	if ts < lo || ts > hi {
		n := len(entries)
		s.rowsRefused.Add(uint64(n))
		return nil, n
	}
	rows := make([]Row, 0, len(entries))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if e.IsMarker {
			rows = append(rows, Row{Key: e.Key, Kind: Marker, TS: ts, Text: e.Marker})
			continue
		}
		k := Gauge
		if e.Action.IsCounter() {
			k = Counter
		}
		lp, seen := s.last[e.Key]
		if !seen && fromZero && k == Counter {
			rows = append(rows, Row{Key: e.Key, Kind: k, TS: ts - 1})
		}
		rows = append(rows, Row{Key: e.Key, Kind: k, TS: ts, Value: e.Value})
		if !seen || ts >= lp.ts {
			// These are the tree's totals as they are: series and tree agree.
			s.last[e.Key] = lastPoint{v: e.Value, kind: k, ts: ts, tree: e.Value, wrote: s.opt.Now().UnixMilli()}
		}
	}
	// Scanning for quiet counters a dozen times per Refresh keeps the
	// longest silence under 13/12 of it at a small cost per tick. Replay
	// writes at the log's clock, so the scan goes by the points' times;
	// a restored counter not written yet is left to the daemon's tick.
	if ts-s.lastRefresh >= s.opt.Refresh.Milliseconds()/12 {
		s.lastRefresh = ts
		limit := ts - s.opt.Refresh.Milliseconds()
		for k, lp := range s.last {
			if lp.kind == Counter && lp.ts < limit && lp.wrote != 0 {
				rows = append(rows, Row{Key: k, Kind: lp.kind, TS: ts, Value: lp.v})
				lp.ts = ts
				s.last[k] = lp
			}
		}
	}
	return rows, 0
}

func (s *Store) enqueue(rows []Row, wait bool) {
	if len(rows) == 0 {
		return
	}
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	if s.closed {
		s.rowsDropped.Add(uint64(len(rows)))
		return
	}
	b := batch{rows: rows}
	if wait {
		s.queue <- b
		s.rowsQueued.Add(uint64(len(rows)))
		return
	}
	select {
	case s.queue <- b:
		s.rowsQueued.Add(uint64(len(rows)))
	default:
		s.rowsDropped.Add(uint64(len(rows)))
		s.lastErr.Store("trend write queue full: the backend is too slow or down")
	}
}

// Flush waits until everything queued is stored and searchable.
func (s *Store) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	s.qmu.RLock()
	if s.closed {
		s.qmu.RUnlock()
		return errClosed
	}
	select {
	case s.queue <- batch{flush: ch}:
		s.qmu.RUnlock()
	case <-ctx.Done():
		s.qmu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stores what is queued and closes the backend.
func (s *Store) Close() error {
	s.closing.Store(true)
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return errClosed
	}
	s.closed = true
	close(s.queue)
	s.qmu.Unlock()
	<-s.done
	return s.be.Close()
}

// Status is the trend section of /status.
func (s *Store) Status() map[string]any {
	st := map[string]any{
		"backend":           s.be.Name(),
		"interval_seconds":  s.opt.Interval.Seconds(),
		"retention_seconds": s.opt.Retention.Seconds(),
		"ticks":             s.ticks.Load(),
		"last_tick_seconds": time.Duration(s.tickNanos.Load()).Seconds(),
		"points_queued":     s.rowsQueued.Load(),
		"points_written":    s.rowsWritten.Load(),
		"points_dropped":    s.rowsDropped.Load(),
		"points_refused":    s.rowsRefused.Load(),
		"write_errors":      s.writeErrs.Load(),
		"queue_batches":     len(s.queue),
		"queue_capacity":    cap(s.queue),
	}
	if e, ok := s.lastErr.Load().(string); ok {
		st["last_error"] = e
	}
	if ro, ok := s.be.(interface{ ReadOnly() bool }); ok {
		// degraded: the live tree is served, history is not being kept.
		st["disk_full"] = ro.ReadOnly()
	}
	return st
}

// lookback is how far before a range a read looks for the previous point.
func (s *Store) lookback() int64 {
	return (s.opt.Refresh + s.opt.Refresh/12 + 2*s.opt.Interval).Milliseconds()
}

// MaxPoints caps the points one series may return.
const MaxPoints = 100_000

// Stale returns how long a gauge's sample stands.
func (s *Store) Stale() time.Duration { return s.opt.Stale }

func (s *Store) kernel() kernel {
	return kernel{lookback: s.lookback(), stale: s.opt.Stale.Milliseconds(), now: s.opt.Now().UnixMilli()}
}

// Query returns the history of every key matching k (a key pattern) in
// [from, until], downsampled with fn to at most points points per series
// (default 1,000), with the markers that annotate those series: a marker
// annotates every series under its parent (the seed's cpu,host,marker
// annotates cpu,host,idle). Counters read as fn says (see resolve); Read
// takes every option.
func (s *Store) Query(ctx context.Context, k string, from, until time.Time, points int, fn Fn) (*Result, error) {
	return s.Read(ctx, k, ReadOptions{From: from, Until: until, Points: points, Fn: fn})
}

// Read returns the history of every key matching the pattern k as opt
// says: every series has a point for every bucket from Result.First to
// Until (NaN where there is none; see kernel.go for the rules).
func (s *Store) Read(ctx context.Context, k string, opt ReadOptions) (*Result, error) {
	m, err := compileKey(k)
	if err != nil {
		return nil, err
	}
	return s.read(ctx, m, opt)
}

func (s *Store) read(ctx context.Context, m *Matcher, opt ReadOptions) (*Result, error) {
	if _, err := ParseFn(string(opt.Fn)); err != nil {
		return nil, err
	}
	if _, err := ParseAs(string(opt.As)); err != nil {
		return nil, err
	}
	f, u := opt.From.UnixMilli(), opt.Until.UnixMilli()
	if u < f {
		return nil, badQuery{fmt.Errorf("until (%s) is before from (%s)", opt.Until.UTC().Format(time.RFC3339), opt.From.UTC().Format(time.RFC3339))}
	}
	points := opt.Points
	if points <= 0 {
		points = 1000
	}
	if points > MaxPoints {
		return nil, badQuery{fmt.Errorf("points=%d: at most %d", points, MaxPoints)}
	}
	first, step := grid(f, u, points)
	if opt.Step > 0 {
		step = max(opt.Step.Milliseconds(), 1)
		first = floorDiv(f, step) * step
		if (u-first)/step+1 > MaxPoints {
			return nil, badQuery{fmt.Errorf("step %s over %s: more than %d points", opt.Step, opt.Until.Sub(opt.From), MaxPoints)}
		}
	}
	nb := int((u-first)/step + 1)
	k := s.kernel()
	res := &Result{From: f, Until: u, First: first, StepMS: step, Series: []Series{}, Markers: []MarkerEvent{}}
	add := func(key string, kind Kind, stats []bucketStats, prev sample) {
		fn, as := resolve(opt.Fn, opt.As, kind)
		pts := k.points(kind, fn, as, stats, first, step, prev)
		if opt.KeepEmpty || hasValue(pts) {
			res.Series = append(res.Series, Series{Key: key, Kind: kind.String(), Fn: fn, As: as, Points: pts})
		}
	}
	done := false
	if rr, ok := s.be.(rollupReader); ok {
		ok, err := rr.rollup(ctx, m, opt.Fn, k, first, step, nb, f, u, s.opt.Now().UnixMilli(), add)
		if err != nil {
			return nil, err
		}
		done = ok
	}
	if !done {
		raw, err := s.be.Read(ctx, m, f-k.lookback, u)
		if err != nil {
			return nil, err
		}
		for i := range raw {
			stats, prev := k.summarize(&raw[i], f, u, first, step, nb)
			add(raw[i].Key, raw[i].Kind, stats, prev)
		}
	}
	markers, err := s.be.Markers(ctx, nil, f, u)
	if err != nil {
		return nil, err
	}
	for _, mk := range markers {
		if annotates(mk.Key, m, res.Series) {
			res.Markers = append(res.Markers, mk)
		}
	}
	return res, nil
}

func annotates(markerKey string, m *Matcher, series []Series) bool {
	if m.Match(markerKey) {
		return true
	}
	p := parentKey(markerKey)
	for i := range series {
		if underOrAt(series[i].Key, p) {
			return true
		}
	}
	return false
}

// Keys lists the keys with history matching the pattern k in [from, until].
func (s *Store) Keys(ctx context.Context, k string, from, until time.Time) ([]string, error) {
	m, err := compileKey(k)
	if err != nil {
		return nil, err
	}
	return s.be.Keys(ctx, m, from.UnixMilli(), until.UnixMilli())
}

// errClosed is returned by writes after Close.
var errClosed = errors.New("trend store is closed")
