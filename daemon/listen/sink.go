package listen

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// DefaultTimerBuckets are the upper bounds (milliseconds) of the cumulative
// histogram kept for every StatsD timer, so percentiles can be derived.
var DefaultTimerBuckets = []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// Bounds on the per-listener state that is not in the tree.
const (
	maxPathCache   = 100_000 // cached name → path conversions per reader
	maxGaugeCache  = 100_000 // gauges whose value is kept for +/- deltas
	maxSetMembers  = 1_000_000
	maxFlushDeltas = 8192 // a reader merges at least this often
	// DefaultMaxSeries caps the distinct paths one listener writes.
	DefaultMaxSeries = 100_000
)

// shared is the state of one listener that its readers share: set members,
// gauge values for +/- deltas, and which defaultactions are already set.
type shared struct {
	t       Merger
	prefix  []string
	buckets []float64
	bucketN []string // bucket bounds as names, with "+Inf" last

	mu      sync.Mutex
	gauges  map[string]float64
	sets    map[string]map[string]struct{}
	members int
	acted   map[string]bool // timer paths whose "le" action is set
	// series are the paths this listener has written; at maxSeries new
	// ones are refused, so a flood of random names cannot grow the tree
	// (and memory) without bound.
	series    map[string]struct{}
	maxSeries int

	window timeWindow // graphite timestamps

	timers      map[string]*timerAcc // statsd: this window's samples
	percentiles []float64
}

// Graphite timestamps. A line's own time is used: within live of now it
// is current and merges into the tree (the trend store writes it at the
// next tick); older, up to maxAge, it is history and goes straight to
// the trend store at that time (backfill: collectd or carbon-relay
// catching up), leaving the tree's current values alone. Lines older than
// maxAge or more than ahead in the future are refused (ErrTimestamp) and
// counted. An add listener's older lines are counts of the past: they add
// to the tree's running totals and, through the daemon's late target
// (Options.Late), to the history at their own interval.
type timeWindow struct {
	maxAge, ahead, live time.Duration
	backfill            Backfiller
	act                 tree.Action // the listener's (a gauge's) action
	// late, for an add listener, takes a past interval's counts: into the
	// tree and to the trend store at their own time (nil: they merge at
	// arrival and count at the next tick).
	late func(end time.Time) LateTarget
}

// LateTarget merges deltas of one past interval into the tree and keeps
// them for the trend store at that interval's time: *trend.Late.
type LateTarget interface {
	ApplyBudget(ds []tree.Delta, left *atomic.Int64) (tree.MergeResult, error)
}

// DefaultMaxAge is how old a Graphite timestamp may be by default.
const DefaultMaxAge = 24 * time.Hour

// maxAhead is how far ahead a Graphite timestamp may be (clock skew).
const maxAhead = time.Minute

// ErrTimestamp is in the chain of a line refused for its timestamp.
var ErrTimestamp = errors.New("timestamp outside the accepted window")

// Backfiller writes tree entries at a past time: *trend.Store.
type Backfiller interface {
	WriteAt(ts time.Time, entries []tree.Entry) error
}

// timed is a Graphite value for the trend store at its own time (a
// count of an add listener: path set, merged through the late target).
type timed struct {
	ts   int64 // unix seconds
	key  string
	path []string
	v    float64
}

// admit records a new series key, or refuses it past the cap.
func (s *shared) admit(key []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.series[string(key)]; ok {
		return nil
	}
	if len(s.series) >= s.maxSeries {
		return fmt.Errorf("listener already writes %d series (listeners[].max_series): new name refused", s.maxSeries)
	}
	s.series[string(key)] = struct{}{}
	return nil
}

func newShared(t Merger, prefix []string, buckets []float64) *shared {
	s := &shared{t: t, prefix: prefix, buckets: buckets,
		gauges: map[string]float64{}, sets: map[string]map[string]struct{}{}, acted: map[string]bool{},
		series: map[string]struct{}{}, maxSeries: DefaultMaxSeries,
		timers: map[string]*timerAcc{}, percentiles: DefaultPercentiles}
	for _, b := range buckets {
		s.bucketN = append(s.bucketN, strconv.FormatFloat(b, 'g', -1, 64))
	}
	s.bucketN = append(s.bucketN, "+Inf")
	return s
}

// resetSets starts a new counting window for StatsD sets.
func (s *shared) resetSets() {
	s.mu.Lock()
	clear(s.sets)
	s.members = 0
	s.mu.Unlock()
}

// cached is a name turned into a tree path, with the string used as the
// aggregation key, so steady traffic does not allocate.
type cached struct {
	key  string
	path []string
	// idx is this path's delta in the batch of generation gen: summing
	// into it needs no second map lookup.
	idx int
	gen uint64
}

// batch collects the deltas of one reader between merges. Counters and
// histogram buckets are summed and gauges keep their last value per path
// before merging (exact for add and last); timer averages are kept sample
// by sample. Not safe for concurrent use.
type batch struct {
	sh     *shared
	deltas []tree.Delta
	gen    uint64 // bumped by every flush; starts at 1
	cache  map[string]*cached
	scr    []byte
	lines  int
	stat   Stat
	metric Metric
	// errs counts deltas the tree refused at merge time.
	errs     int
	cacheCap int
	timed    []timed // graphite lines for the trend store
	now      func() time.Time
}

func newBatch(sh *shared) *batch {
	return &batch{sh: sh, gen: 1, cache: map[string]*cached{}, cacheCap: maxPathCache, now: time.Now}
}

// path returns the cached path for kind+name(+tag+suffix...). The scratch
// key is built by the caller in b.scr.
func (b *batch) lookup(build func() ([]string, error)) (*cached, error) {
	if c, ok := b.cache[string(b.scr)]; ok {
		return c, nil
	}
	if err := b.sh.admit(b.scr); err != nil {
		return nil, err
	}
	p, err := build()
	if err != nil {
		return nil, err
	}
	if len(b.cache) >= b.cacheCap {
		clear(b.cache)
	}
	c := &cached{key: string(b.scr), path: p}
	b.cache[c.key] = c
	return c, nil
}

// splitName turns a dotted metric name into path names under base.
func splitName(base []string, name []byte, extra ...string) ([]string, error) {
	p := make([]string, 0, len(base)+bytes.Count(name, []byte{'.'})+1+len(extra))
	p = append(p, base...)
	for i := 0; ; {
		j := bytes.IndexByte(name[i:], '.')
		seg := name[i:]
		if j >= 0 {
			seg = name[i : i+j]
		}
		if len(seg) == 0 {
			return nil, fmt.Errorf("metric name %q has an empty part", name)
		}
		p = append(p, string(seg))
		if j < 0 {
			break
		}
		i += j + 1
	}
	for _, e := range extra {
		if e == "" {
			continue
		}
		p = append(p, e)
	}
	return p, nil
}

// add sums v into the delta at the cached path.
func (b *batch) add(c *cached, v float64) {
	if c.gen == b.gen {
		b.deltas[c.idx].Value += v
		return
	}
	c.gen, c.idx = b.gen, len(b.deltas)
	b.deltas = append(b.deltas, tree.Delta{Path: c.path, Value: v})
}

// set replaces the delta at the cached path (gauges: last wins).
func (b *batch) set(c *cached, v float64) {
	if c.gen == b.gen {
		b.deltas[c.idx].Value = v
		return
	}
	c.gen, c.idx = b.gen, len(b.deltas)
	b.deltas = append(b.deltas, tree.Delta{Path: c.path, Value: v})
}

// sample appends v unaggregated (averages weigh every sample).
func (b *batch) sample(c *cached, v float64) {
	b.deltas = append(b.deltas, tree.Delta{Path: c.path, Value: v})
}

// key builds the scratch key: a kind byte, the name, then parts.
func (b *batch) key(kind byte, name []byte, parts ...[]byte) {
	b.scr = append(b.scr[:0], kind)
	b.scr = append(b.scr, name...)
	for _, p := range parts {
		b.scr = append(b.scr, 0)
		b.scr = append(b.scr, p...)
	}
}

// statsd roots under the listener prefix.
const (
	rootCounters = "counters"
	rootGauges   = "gauges"
	rootTimers   = "timers"
	rootSets     = "sets"
)

// setupStatsD sets the defaultactions of the StatsD roots.
func (s *shared) setupStatsD() error {
	for _, r := range []struct {
		name string
		act  tree.Action
	}{{rootCounters, tree.ActionAdd}, {rootGauges, tree.ActionLast}, {rootTimers, tree.ActionLast}, {rootSets, tree.ActionLast}} {
		if err := s.t.SetAction(append(append([]string(nil), s.prefix...), r.name), r.act); err != nil {
			return fmt.Errorf("cannot set the defaultaction of %s: %w", r.name, err)
		}
	}
	return nil
}

// statsd parses one StatsD line into the batch.
func (b *batch) statsd(line []byte) error {
	s := &b.stat
	if err := ParseStatsD(line, s); err != nil {
		return err
	}
	if w := 1 / s.Rate; math.IsInf(w, 0) || math.IsInf(s.Value*w, 0) {
		return fmt.Errorf("value %g at sample rate %g overflows", s.Value, s.Rate)
	}
	// A tagged metric merges into its name and into one child per tag, like
	// the seed's br,ie,7 and br,ie,7,venders,sogou.
	if err := b.statsdOne(s, nil); err != nil {
		return err
	}
	for _, t := range s.Tags {
		if err := b.statsdOne(s, t); err != nil {
			return err
		}
	}
	return nil
}

func (b *batch) statsdOne(s *Stat, tag []byte) error {
	sh := b.sh
	switch s.Kind {
	case StatCounter:
		b.key('c', s.Name, tag)
		c, err := b.lookup(func() ([]string, error) {
			return splitName(append(sh.prefix[:len(sh.prefix):len(sh.prefix)], rootCounters), s.Name, string(tag))
		})
		if err != nil {
			return err
		}
		b.add(c, s.Value/s.Rate)
	case StatGauge:
		b.key('g', s.Name, tag)
		c, err := b.lookup(func() ([]string, error) {
			return splitName(append(sh.prefix[:len(sh.prefix):len(sh.prefix)], rootGauges), s.Name, string(tag))
		})
		if err != nil {
			return err
		}
		v := s.Value
		sh.mu.Lock()
		if s.Delta {
			cur, ok := sh.gauges[c.key]
			if !ok {
				cur = sh.current(c.path)
			}
			v += cur
		}
		if len(sh.gauges) >= maxGaugeCache {
			clear(sh.gauges)
		}
		sh.gauges[c.key] = v
		sh.mu.Unlock()
		b.set(c, v)
	case StatTimer:
		b.key('t', s.Name, tag)
		base, err := b.lookup(func() ([]string, error) {
			return splitName(append(sh.prefix[:len(sh.prefix):len(sh.prefix)], rootTimers), s.Name, string(tag))
		})
		if err != nil {
			return err
		}
		if err := sh.timerAction(base); err != nil {
			return err
		}
		sh.addTimer(base, s.Value, s.Rate)
		w := 1 / s.Rate
		for i, name := range sh.bucketN {
			if i < len(sh.buckets) && s.Value > sh.buckets[i] {
				continue
			}
			b.key('t', s.Name, tag, []byte("le"), []byte(name))
			c, _ := b.lookup(func() ([]string, error) { return appendPath(base.path, "le", name), nil })
			b.add(c, w)
		}
	case StatSet:
		b.key('s', s.Name, tag)
		c, err := b.lookup(func() ([]string, error) {
			return splitName(append(sh.prefix[:len(sh.prefix):len(sh.prefix)], rootSets), s.Name, string(tag))
		})
		if err != nil {
			return err
		}
		sh.mu.Lock()
		m := sh.sets[c.key]
		if m == nil {
			m = map[string]struct{}{}
			sh.sets[c.key] = m
		}
		if _, ok := m[string(s.Raw)]; !ok && sh.members < maxSetMembers {
			m[string(s.Raw)] = struct{}{}
			sh.members++
		}
		n := len(m)
		sh.mu.Unlock()
		b.set(c, float64(n))
	}
	return nil
}

func appendPath(p []string, names ...string) []string {
	out := make([]string, 0, len(p)+len(names))
	return append(append(out, p...), names...)
}

// timerAction makes the buckets under a timer counters (the timer root
// averages). Called with the timer's base path.
func (s *shared) timerAction(base *cached) error {
	s.mu.Lock()
	done := s.acted[base.key]
	s.mu.Unlock()
	if done {
		return nil
	}
	if err := s.t.SetAction(appendPath(base.path, "le"), tree.ActionAdd); err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.acted) >= maxPathCache {
		clear(s.acted)
	}
	s.acted[base.key] = true
	s.mu.Unlock()
	return nil
}

// current reads a gauge's value from the tree (0 when absent), for a +/-
// delta to a gauge this listener has not seen yet.
func (s *shared) current(path []string) float64 {
	k := key.Join(path)
	p, err := key.Parse(k)
	if err != nil {
		return 0
	}
	for _, e := range s.t.Get(p) {
		if e.Key == k && !e.IsMarker {
			return e.Value
		}
	}
	return 0
}

// graphite parses one Graphite plaintext line into the batch, merging by
// act: add sums within the batch, last keeps the batch's last value, and
// average, max and min pass every sample on to the tree.
func (b *batch) graphite(line []byte, act tree.Action) error {
	m := &b.metric
	if err := ParseGraphite(line, m); err != nil {
		return err
	}
	merge := b.sample
	switch act {
	case tree.ActionAdd:
		merge = b.add
	case tree.ActionLast:
		merge = b.set
	}
	if m.Time > 0 {
		w := &b.sh.window
		now := b.now()
		age := now.Sub(time.Unix(m.Time, 0))
		switch {
		case age > w.maxAge || -age > w.ahead:
			return fmt.Errorf("%w: %s is %s from now (max_age %s, at most %s ahead)", ErrTimestamp,
				time.Unix(m.Time, 0).UTC().Format(time.RFC3339), age.Round(time.Second), w.maxAge, w.ahead)
		case age > w.live && act != tree.ActionAdd && w.backfill != nil:
			merge = func(c *cached, v float64) {
				b.timed = append(b.timed, timed{ts: m.Time, key: key.Join(c.path), v: v})
			}
		case age > w.live && act == tree.ActionAdd && w.late != nil:
			// A count of the past adds to the running total in the tree,
			// and to the history at its own time, not at the next tick.
			merge = func(c *cached, v float64) {
				b.timed = append(b.timed, timed{ts: m.Time, path: c.path, v: v})
			}
		}
	}
	for i := -1; i < len(m.Tags); i++ {
		var tag []byte
		if i >= 0 {
			tag = m.Tags[i]
		}
		b.key('G', m.Name, tag)
		c, err := b.lookup(func() ([]string, error) { return splitName(b.sh.prefix, m.Name, string(tag)) })
		if err != nil {
			return err
		}
		merge(c, m.Value)
	}
	return nil
}

// flush merges the batch into the tree in one Apply. When the tree refuses
// the batch (e.g. a number where a marker is), the deltas are merged one by
// one so only the offending ones are lost.
func (b *batch) flush() {
	if len(b.deltas) == 0 {
		b.lines = 0
		b.gen++
		return
	}
	if _, err := b.sh.t.Apply(b.deltas); err != nil {
		for i := range b.deltas {
			if _, err := b.sh.t.Apply(b.deltas[i : i+1]); err != nil {
				b.errs++
			}
		}
	}
	clear(b.deltas) // drop path references
	b.deltas = b.deltas[:0]
	b.gen++
	b.lines = 0
}

// flushTimed writes the batch's backfilled Graphite values to the trend
// store, one write per timestamp, and says how many there were.
func (b *batch) flushTimed() (int, error) {
	n := len(b.timed)
	if n == 0 {
		return 0, nil
	}
	defer func() { b.timed = b.timed[:0] }()
	slices.SortStableFunc(b.timed, func(x, y timed) int { return cmp.Compare(x.ts, y.ts) })
	var errs []error
	w := &b.sh.window
	for i := 0; i < n; {
		j := i
		if b.timed[i].path != nil {
			// Counts, one merge per interval of the trend tick.
			end := time.Unix(b.timed[i].ts, 0).Truncate(w.live).Add(w.live)
			var ds []tree.Delta
			for ; j < n && time.Unix(b.timed[j].ts, 0).Before(end); j++ {
				ds = append(ds, tree.Delta{Path: b.timed[j].path, Value: b.timed[j].v})
			}
			var left atomic.Int64
			left.Store(math.MaxInt64)
			if _, err := w.late(end).ApplyBudget(ds, &left); err != nil {
				errs = append(errs, err)
			}
			i = j
			continue
		}
		var entries []tree.Entry
		for ; j < n && b.timed[j].ts == b.timed[i].ts; j++ {
			entries = append(entries, tree.Entry{Key: b.timed[j].key, Value: b.timed[j].v, Action: w.act})
		}
		if err := w.backfill.WriteAt(time.Unix(b.timed[i].ts, 0), entries); err != nil {
			errs = append(errs, err)
		}
		i = j
	}
	return n, errors.Join(errs...)
}

// full reports whether the batch should be merged before reading more.
func (b *batch) full() bool { return len(b.deltas) >= maxFlushDeltas }

// Merger is where sockets deliver: the tree in canopyd, the forwarding
// queues in a relay.
type Merger interface {
	Apply(deltas []tree.Delta) (tree.MergeResult, error)
	SetAction(path []string, a tree.Action) error
	Merge(p *tree.Push) (tree.MergeResult, error) // a decoded JSON push
	Get(p *key.Pattern) []tree.Entry
}

// JSONMerger is a Merger that takes JSON pushes as they came rather than
// decoded: a relay checks and forwards them without decoding.
type JSONMerger interface {
	MergeJSON(data []byte) (tree.MergeResult, error)
}
