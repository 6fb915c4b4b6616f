package trend

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Late lines. A line whose own time is more than one tick old when it is
// read (a followed log's backlog, POST /replay, a push of old lines) is
// history: it still merges into the tree, so the tree counts every line
// once, but its numbers are written at its own time (the interval it fell
// in, at that interval's last millisecond, so it counts in its own bucket)
// and the tick does not write them again at now. Otherwise a daemon started
// on a big log, or a replay into a running one, would draw the whole log
// as one spike at the moment it was read.
//
// Counters are stored as running totals, so the store keeps, per counter,
// the tree's total at the last tick beside the series' own latest total:
// a tick writes the series' total plus what arrived on time (the tree's
// change less the late lines' part). Late counts go on the series where
// they fall after its latest point (a backlog read before any current
// line, the common case), and the totals stay equal to the tree's. Late
// counts older than the series' latest point (a replay of last week into a
// daemon counting the same keys now) cannot be slid under points already
// written: they are written as a run of their own that starts from an
// explicit zero; a read that crosses into such a run from points within
// the lookback (~1 h) before it, or out of it into points within the
// lookback after it, counts the junction wrong (see README, "Late lines").
//
// Gauges and markers of late lines are written at their own times too and
// left out of the tick; in the tree they take part as they come (a gauge's
// current value may be a late sample until the next current one).

// Follower writes the changes of one tree to the store, step after step
// of the daemon's clock, and late lines at their own times.
type Follower struct {
	s       *Store
	t       *tree.Tree
	version uint64

	// mu: late merges hold it shared, Flush exclusively, so a tick sees
	// the tree and the late part of its changes alike.
	mu sync.RWMutex
	// lmu guards late and pending (taken under mu shared).
	lmu sync.Mutex
	// late is what arrived late since the last Flush, by key: a counter's
	// amount (gauges and markers: 0, only present).
	late map[string]float64
	// pending holds the late numbers by interval (its last unix ms).
	pending map[int64]map[string]*lateAcc
	// active: late lines arrived in the last tick (restored counters not
	// written yet wait, see tickRows).
	active atomic.Bool
	// accs counts pending's accumulators; full is signalled once it passes
	// MaxLatePending (see Full).
	accs int
	full chan struct{}
	// saveMark keeps LateMark for the next run (OnLateMark); savedMark is
	// the last value it saved.
	saveMark  func(mark int64) error
	savedMark atomic.Int64
}

// MaxLatePending bounds the late accumulators (one per key and interval)
// a Follower holds before it asks, on Full, for them to be written: with a
// long tick (-trend.interval 24h) a backlog would otherwise wait in memory
// until the next tick, or be lost by a crash before it.
const MaxLatePending = 1 << 16

// lateAcc sums one key's late deltas of one interval as the tree would.
type lateAcc struct {
	act    tree.Action
	v      float64
	n      uint32 // average: samples
	marker string
	isMark bool
}

// Follow starts following t: the counters restored in it are what the
// next point of each continues from (see Baseline), and the Follower
// writes t's changes from then on.
func (s *Store) Follow(t *tree.Tree) *Follower {
	return &Follower{s: s, t: t, version: s.Baseline(t), full: make(chan struct{}, 1)}
}

// Full receives when the late numbers held pass MaxLatePending: the
// daemon then checkpoints early (WriteLate after its snapshot).
func (f *Follower) Full() <-chan struct{} { return f.full }

// Pending says late numbers wait to be written (by WriteLate or Flush).
func (f *Follower) Pending() bool {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	return len(f.pending) > 0
}

// takePending hands over the late numbers held. What arrived late stays
// in f.late: the next tick still leaves it out of the tree's change.
func (f *Follower) takePending() map[int64]map[string]*lateAcc {
	f.lmu.Lock()
	defer f.lmu.Unlock()
	p := f.pending
	f.pending, f.accs = nil, 0
	return p
}

// WriteLate writes the late numbers held at their own times now, without
// a tick, waiting for room in the write queue (they are history: a late
// point dropped would be a count lost, not resolution). The daemon calls
// it right after a snapshot, with ingest paused: the points written are
// then those of lines the snapshot holds, which a restart does not read
// again, so no line is counted twice after a crash.
func (f *Follower) WriteLate() {
	pending := f.takePending()
	if len(pending) == 0 {
		return
	}
	s := f.s
	s.mu.Lock()
	rows := s.lateRows(pending, s.opt.Now().UnixMilli())
	mark := s.lateMark
	s.mu.Unlock()
	f.queueLate(rows, mark)
}

// queueLate queues late rows, once the mark (their latest time) is saved.
func (f *Follower) queueLate(rows []Row, mark int64) {
	if len(rows) == 0 {
		return
	}
	if f.saveMark != nil && mark > f.savedMark.Load() {
		if err := f.saveMark(mark); err != nil {
			f.s.opt.Logf("trend: cannot save the late mark: %v", err)
		} else {
			f.savedMark.Store(mark)
		}
	}
	f.s.enqueue(rows, true)
}

// OnLateMark has save called with LateMark before late points later than
// the last one saved are queued: the daemon keeps it on disk for
// SetLateMark after a restart, even one after kill -9.
func (f *Follower) OnLateMark(save func(mark int64) error) { f.saveMark = save }

// Flush queues the numbers and markers of the tree that changed since the
// last Flush (or the baseline) as points at now, except what arrived late,
// which goes at its own times; a counter that appears later starts from an
// explicit zero. The clock ticks the tree (a new averaging window) after
// it.
func (f *Follower) Flush(now time.Time) {
	start := time.Now()
	f.mu.Lock()
	entries, v := f.t.Since(allKeys, f.version)
	pending := f.takePending()
	late := f.late
	f.late = nil
	f.mu.Unlock()
	f.version = v
	// Late lines in this tick: written by WriteLate since the last one, or
	// pending now.
	f.active.Store(late != nil)
	s := f.s
	s.mu.Lock()
	// Late points first: a counter they extend is then where the tick
	// continues from.
	lateRows := s.lateRows(pending, now.UnixMilli())
	mark := s.lateMark
	rows := s.tickRows(now.UnixMilli(), entries, late, f.active.Load())
	s.mu.Unlock()
	f.queueLate(lateRows, mark)
	s.enqueue(rows, false)
	s.ticks.Add(1)
	s.tickNanos.Store(int64(time.Since(start)))
}

// Baseline notes every counter of t as it is now and returns the version
// to write changes from. Follow does it at start, before anything is
// ingested: the tree as restored is where counters continue after a
// restart; increments while canopyd was down are unknown, so none are
// invented. Nothing is written yet: a counter's next point writes its
// total first, or a refresh once Refresh has passed since Baseline with
// no late lines arriving, so that a backlog read after a restart (the
// lines logged while canopyd was down, read once the pipes are loaded)
// continues the points from before the stop at its own times.
func (s *Store) Baseline(t *tree.Tree) uint64 {
	entries, version := t.Since(allKeys, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = s.opt.Now().UnixMilli()
	for _, e := range entries {
		// Markers were written when they were set; gauges restored from a
		// snapshot received nothing now: they come back with their next
		// sample.
		if e.IsMarker || !e.Action.IsCounter() {
			continue
		}
		s.last[e.Key] = lastPoint{v: e.Value, kind: Counter, tree: e.Value}
	}
	return version
}

// appendCounter adds the point (ts, v) after lp, the series' latest: a
// series with no point for longer than Refresh (or none yet: a restored
// or new counter) gets its previous total again just before, so the
// increase is counted rather than read as the first point after a stop.
func (s *Store) appendCounter(rows []Row, k string, lp *lastPoint, ts int64, v float64, wall int64) []Row {
	if (lp.ts == 0 || ts-lp.ts > s.opt.Refresh.Milliseconds()) && ts-1 > lp.ts {
		rows = append(rows, Row{Key: k, Kind: Counter, TS: ts - 1, Value: lp.v})
	}
	lp.v, lp.ts, lp.wrote = v, ts, wall
	return append(rows, Row{Key: k, Kind: Counter, TS: ts, Value: v})
}

// tickRows turns a tick's changed entries into rows at ts (now), leaving
// out what arrived late (late: key → counter amount). active says late
// lines are still arriving: restored counters not written yet wait, since
// the backlog may hold their history up to now. Callers hold s.mu.
func (s *Store) tickRows(ts int64, entries []tree.Entry, late map[string]float64, active bool) []Row {
	lo, hi := s.window()
	if ts < lo || ts > hi {
		s.rowsRefused.Add(uint64(len(entries)))
		return nil
	}
	rows := make([]Row, 0, len(entries))
	for _, e := range entries {
		d, isLate := late[e.Key]
		if e.IsMarker {
			if !isLate {
				rows = append(rows, Row{Key: e.Key, Kind: Marker, TS: ts, Text: e.Marker})
			}
			continue
		}
		if !e.Action.IsCounter() {
			if !isLate {
				rows = append(rows, Row{Key: e.Key, Kind: Gauge, TS: ts, Value: e.Value})
				s.last[e.Key] = lastPoint{v: e.Value, kind: Gauge, ts: ts, wrote: ts}
			}
			continue
		}
		lp, seen := s.last[e.Key]
		if !seen {
			lp = lastPoint{kind: Counter}
		}
		onTime := e.Value - lp.tree - d
		v := lp.v + onTime
		if lp.tree == lp.v && d == 0 {
			v = e.Value // series and tree agree: the total exactly
		}
		lp.tree = e.Value
		if isLate && onTime == 0 || onTime == 0 && lp.ts == 0 && lp.wrote == 0 {
			// Only late counts (written at their times), or a restored
			// counter whose node changed but not its total (a pipe set its
			// unit): no point at now, which a backlog read later would
			// have to go under.
			s.last[e.Key] = lp
			continue
		}
		rows = s.appendCounter(rows, e.Key, &lp, ts, v, ts)
		s.last[e.Key] = lp
	}
	// Scanning for quiet counters a dozen times per Refresh keeps the
	// longest silence under 13/12 of it at a small cost per tick. Quiet
	// goes by when a series was written, not by its latest point's time:
	// late points are old when written.
	if ts-s.lastRefresh >= s.opt.Refresh.Milliseconds()/12 {
		s.lastRefresh = ts
		limit := ts - s.opt.Refresh.Milliseconds()
		for k, lp := range s.last {
			// A restored counter not written yet waits a Refresh from
			// the start (and while late lines arrive): the backlog of a
			// restart (read after the pipes load, maybe after the first
			// tick) may hold its history up to now, which a point written
			// at now first would push under it.
			if lp.kind != Counter || lp.wrote >= limit || lp.ts >= ts || (lp.wrote == 0 && (active || ts < s.started+s.opt.Refresh.Milliseconds())) {
				continue
			}
			rows = append(rows, Row{Key: k, Kind: Counter, TS: ts, Value: lp.v})
			lp.ts, lp.wrote = ts, ts
			s.last[k] = lp
		}
	}
	return rows
}

// lateRun is a counter's late counts written under points it already had
// (see the package comment on late lines).
type lateRun struct {
	total float64
	ts    int64
}

// lateRows writes pending late numbers at their intervals' times, oldest
// first. Callers hold s.mu.
func (s *Store) lateRows(pending map[int64]map[string]*lateAcc, wall int64) []Row {
	if len(pending) == 0 {
		return nil
	}
	lo, hi := s.window()
	tol := s.opt.Interval.Milliseconds()
	var rows []Row
	for _, ts := range slices.Sorted(maps.Keys(pending)) {
		accs := pending[ts]
		if ts < lo || ts > hi {
			s.rowsRefused.Add(uint64(len(accs)))
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(accs)) {
			a := accs[k]
			switch {
			case a.isMark:
				rows = append(rows, Row{Key: k, Kind: Marker, TS: ts, Text: a.marker})
				continue
			case !a.act.IsCounter():
				rows = append(rows, Row{Key: k, Kind: Gauge, TS: ts, Value: a.v})
				continue
			}
			lp, seen := s.last[k]
			if !seen {
				lp = lastPoint{kind: Counter}
			}
			if seen && lp.ts == 0 && lp.wrote == 0 && s.restored > 0 && ts <= s.restored {
				// A restored counter whose late points the run before may
				// have written up to the mark (a restart in the middle of
				// a backlog): the next ones go after it, not under them.
				lp.ts = s.restored
			}
			switch {
			case ts > lp.ts:
				rows = s.appendCounter(rows, k, &lp, ts, lp.v+a.v, wall)
			case lp.ts-ts < tol:
				// Late by less than a tick after the latest point (lines of
				// one second read across a restart, say): just after it.
				rows = s.appendCounter(rows, k, &lp, lp.ts+1, lp.v+a.v, wall)
			default:
				r := s.runs[k]
				if r == nil || ts < r.ts-tol {
					r = &lateRun{}
					if s.runs == nil {
						s.runs = map[string]*lateRun{}
					}
					s.runs[k] = r
					rows = append(rows, Row{Key: k, Kind: Counter, TS: ts - 1})
				}
				r.total += a.v
				r.ts = max(ts, r.ts+1)
				rows = append(rows, Row{Key: k, Kind: Counter, TS: r.ts, Value: r.total})
			}
			s.last[k] = lp
		}
	}
	for i := range rows {
		s.lateMark = max(s.lateMark, rows[i].TS)
	}
	return rows
}

// SetLateMark tells a Follower started on a restored tree the LateMark
// the run before wrote with its last snapshot (0: none): late points of
// restored counters then go after it (see lateRows).
func (f *Follower) SetLateMark(ts int64) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.restored = ts
	f.s.lateMark = max(f.s.lateMark, ts)
	f.savedMark.Store(ts)
}

// LateMark is the latest time a late point was queued at: what the
// OnLateMark callback saves, and SetLateMark restores after a restart.
func (f *Follower) LateMark() int64 {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return f.s.lateMark
}

// Late is where the deltas of lines of one past interval go (a
// pipes.Target): into the tree, and to the store at the interval's time.
type Late struct {
	f  *Follower
	ts int64
}

// Late returns the target for lines of the interval ending at end.
func (f *Follower) Late(end time.Time) *Late {
	return &Late{f: f, ts: end.UnixMilli() - 1}
}

// ApplyBudget merges ds into the tree (within the pipe's key budget left,
// as the pipes merge) and keeps them for the store at the interval's time.
func (l *Late) ApplyBudget(ds []tree.Delta, left *atomic.Int64) (tree.MergeResult, error) {
	f := l.f
	acts := f.t.ActionsOf(nil, ds)
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.t.ApplyBudget(ds, left)
	if err != nil {
		return r, err
	}
	f.lmu.Lock()
	defer f.lmu.Unlock()
	if f.late == nil {
		f.late = map[string]float64{}
	}
	if f.pending == nil {
		f.pending = map[int64]map[string]*lateAcc{}
	}
	accs := f.pending[l.ts]
	if accs == nil {
		accs = map[string]*lateAcc{}
		f.pending[l.ts] = accs
	}
	for i := range ds {
		d := &ds[i]
		k := key.Join(d.Path)
		a := accs[k]
		if a == nil {
			a = &lateAcc{act: acts[i]}
			accs[k] = a
			if f.accs++; f.accs == MaxLatePending {
				select {
				case f.full <- struct{}{}:
				default:
				}
			}
		}
		if d.IsMarker {
			a.isMark, a.marker = true, d.Marker
			f.late[k] += 0
			continue
		}
		n := max(d.Samples, 1)
		switch {
		case a.act == tree.ActionAdd:
			a.v += d.Value
		case a.n == 0:
			a.v = d.Value
		case a.act == tree.ActionAverage:
			a.v += (d.Value - a.v) * float64(n) / float64(a.n+n)
		case a.act == tree.ActionMax:
			a.v = max(a.v, d.Value)
		case a.act == tree.ActionMin:
			a.v = min(a.v, d.Value)
		default: // last
			a.v = d.Value
		}
		a.n += n
		if a.act == tree.ActionAdd {
			f.late[k] += d.Value
		} else {
			f.late[k] += 0
		}
	}
	return r, nil
}

// Split hands lines (in time order) to run: first the lines more than a
// tick older than now, interval by interval of the log's clock, each with
// the Late target of its interval, then the current ones with nil. timeOf
// reads a line's own time; lines without one go with the line before (at
// the start, with the first line after that has one).
func (f *Follower) Split(lines [][]byte, timeOf func([]byte) (time.Time, bool), now time.Time, run func(lines [][]byte, late *Late) error) error {
	if len(lines) == 0 {
		return nil
	}
	iv := f.s.opt.Interval
	limit := now.Add(-iv)
	at := func(i int) (time.Time, bool) {
		for j := i; j >= 0 && j > i-16; j-- {
			if t, ok := timeOf(lines[j]); ok {
				return t, true
			}
		}
		if i < 16 {
			// Leading lines without a time (a batch that starts with a
			// bad line) go with the first that has one: else they would
			// make the whole batch current.
			for j := i + 1; j < len(lines) && j < 16; j++ {
				if t, ok := timeOf(lines[j]); ok {
					return t, true
				}
			}
		}
		return time.Time{}, false
	}
	current := func(i int) bool {
		t, ok := at(i)
		return !ok || !t.Before(limit)
	}
	cut := 0
	if !current(0) {
		cut = sort.Search(len(lines), current)
	}
	for i := 0; i < cut; {
		t, _ := at(i)
		end := t.Truncate(iv).Add(iv)
		j := i + sort.Search(cut-i, func(k int) bool {
			t, ok := at(i + k)
			return !ok || !t.Before(end)
		})
		j = max(j, i+1)
		if err := run(lines[i:j], f.Late(end)); err != nil {
			return err
		}
		i = j
	}
	if cut < len(lines) {
		return run(lines[cut:], nil)
	}
	return nil
}
