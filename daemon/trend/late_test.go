package trend

import (
	"context"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/tree"
)

// lateRig drives a Follower as the daemon does: late lines merge through
// Late targets, current ones straight into the tree, and the clock ticks.
type lateRig struct {
	t     *testing.T
	s     *Store
	tr    *tree.Tree
	f     *Follower
	clock time.Time
	left  atomic.Int64
	p     string
}

func newLateRig(t *testing.T, b backend, start time.Time, tr *tree.Tree) *lateRig {
	r := &lateRig{t: t, tr: tr, clock: start, p: uniq(t)}
	r.s = b.open(t, Options{Now: func() time.Time { return r.clock }})
	r.left.Store(math.MaxInt64)
	if err := tr.SetAction([]string{r.p, "latency"}, tree.ActionAverage); err != nil {
		t.Fatal(err)
	}
	r.f = r.s.Follow(tr)
	return r
}

// late merges n requests (and a latency sample v) logged at ts.
func (r *lateRig) late(ts time.Time, n, v float64) {
	r.t.Helper()
	end := ts.Truncate(r.s.Interval()).Add(r.s.Interval())
	ds := []tree.Delta{{Path: []string{r.p, "requests"}, Value: n}, {Path: []string{r.p, "latency"}, Value: v}}
	if _, err := r.f.Late(end).ApplyBudget(ds, &r.left); err != nil {
		r.t.Fatal(err)
	}
}

// tick merges n current requests and runs the clock once.
func (r *lateRig) tick(n float64) {
	r.t.Helper()
	if n > 0 {
		if _, err := r.tr.Apply([]tree.Delta{{Path: []string{r.p, "requests"}, Value: n}}); err != nil {
			r.t.Fatal(err)
		}
	}
	r.clock = r.clock.Add(r.s.Interval())
	r.f.Flush(r.clock)
	r.tr.Tick()
}

func (r *lateRig) read(k string, from, until time.Time, step time.Duration, as As, fn Fn) Series {
	r.t.Helper()
	flush(r.t, r.s)
	res, err := r.s.Read(context.Background(), r.p+","+k, ReadOptions{From: from, Until: until, Step: step, As: as, Fn: fn})
	if err != nil {
		r.t.Fatal(err)
	}
	if len(res.Series) != 1 {
		r.t.Fatalf("%s: %d series, want 1", k, len(res.Series))
	}
	return res.Series[0]
}

// perMinute is the backlog's known count in its minute m.
func perMinute(m int) float64 { return float64(1 + m%7) }

// backlog merges minutes of late lines from `from`, ticking the clock
// every tickEvery minutes of them (a backlog is read while the clock runs),
// and returns how many requests it held.
func (r *lateRig) backlog(from time.Time, minutes, tickEvery int) float64 {
	return r.backlogThen(from, minutes, tickEvery, func() { r.tick(0) })
}

// backlogThen is backlog calling every instead of ticking.
func (r *lateRig) backlogThen(from time.Time, minutes, tickEvery int, every func()) float64 {
	var total float64
	for m := range minutes {
		// Each minute's count falls in two of its intervals.
		t := from.Add(time.Duration(m) * time.Minute)
		c := perMinute(m)
		r.late(t.Add(5*time.Second), c-1, float64(m))
		r.late(t.Add(45*time.Second), 1, float64(m))
		total += c
		if (m+1)%tickEvery == 0 {
			every()
		}
	}
	return total
}

// checkHistory: the minutes from `from` read back as the known counts,
// and their latency as the minute's samples.
func (r *lateRig) checkHistory(from time.Time, minutes int, skipFirst bool) {
	r.t.Helper()
	until := from.Add(time.Duration(minutes)*time.Minute - time.Millisecond)
	req := r.read("requests", from, until, time.Minute, AsCount, FnAuto)
	lat := r.read("latency", from, until, time.Minute, AsAuto, FnAvg)
	for m := range minutes {
		if m == 0 && skipFirst {
			continue
		}
		if got := req.Points[m].V; got != perMinute(m) {
			r.t.Errorf("requests in minute %d of the backlog = %v, want %v", m, got, perMinute(m))
		}
		if got := lat.Points[m].V; got != float64(m) {
			r.t.Errorf("latency in minute %d of the backlog = %v, want %v", m, got, float64(m))
		}
	}
}

// checkLive: at the ticks from `from` on, every 10 s point counts at most
// live requests, and the latency (never sampled now) has no point after
// the stale time.
func (r *lateRig) checkLive(from time.Time, live float64) {
	r.t.Helper()
	req := r.read("requests", from, r.clock, r.s.Interval(), AsCount, FnAuto)
	for _, p := range valued(req.Points) {
		if p.V > live {
			r.t.Errorf("requests at %s (a tick) = %v, want at most the live %v: a spike", time.UnixMilli(p.T).UTC().Format(time.TimeOnly), p.V, live)
		}
	}
	res, err := r.s.Read(context.Background(), r.p+",latency", ReadOptions{From: from.Add(r.s.Stale()), Until: r.clock, Step: r.s.Interval()})
	if err != nil {
		r.t.Fatal(err)
	}
	if len(res.Series) != 0 {
		r.t.Errorf("latency written at the ticks: %+v", valued(res.Series[0].Points))
	}
}

func (r *lateRig) checkTotal(want float64) {
	r.t.Helper()
	got := sumPoints(r.read("requests", r.clock.Add(-6*time.Hour), r.clock, time.Hour, AsCount, FnAuto))
	if got != want {
		r.t.Errorf("requests counted over all history = %v, want %v", got, want)
	}
}

// testLateBacklog: a daemon started on a log with two hours of backlog,
// read while the clock ticks, then current lines: the backlog's minutes
// read as their known counts, the ticks only the current lines, every
// line is counted once.
func testLateBacklog(t *testing.T, b backend) {
	start := base.Add(2 * time.Hour)
	r := newLateRig(t, b, start, tree.New())
	total := r.backlog(start.Add(-2*time.Hour), 120, 30)
	for range 6 {
		r.tick(5)
	}
	total += 30
	r.checkHistory(start.Add(-2*time.Hour), 120, false)
	r.checkLive(start, 5)
	r.checkTotal(total)
}

// testLateAfterRestart: restarted with its tree restored, the daemon reads
// the lines logged while it was down: they continue the history from
// before the stop at their own times, with no spike when it is read.
func testLateAfterRestart(t *testing.T, b backend) {
	start := base.Add(2 * time.Hour)
	stop := start.Add(-time.Hour)
	tr := tree.New()
	// Written before the stop: 0 → 990 over its last 50 minutes; the
	// snapshot then held 1000.
	p := uniq(t)
	rows := []Row{{Key: p + ",requests", Kind: Counter, TS: stop.Add(-50 * time.Minute).UnixMilli()}}
	for i := 1; i <= 99; i++ {
		rows = append(rows, Row{Key: p + ",requests", Kind: Counter, TS: stop.Add(-50*time.Minute + time.Duration(i)*30*time.Second).UnixMilli(), Value: float64(10 * i)})
	}
	if _, err := tr.Apply([]tree.Delta{{Path: []string{p, "requests"}, Value: 1000}}); err != nil {
		t.Fatal(err)
	}
	r := newLateRig(t, b, start, tr)
	if err := r.s.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	total := 1000 + r.backlog(stop, 60, 20)
	for range 6 {
		r.tick(5)
	}
	total += 30
	// The first minute also counts the 10 between the last point and the
	// snapshot.
	r.checkHistory(stop, 60, true)
	r.checkLive(start, 5)
	r.checkTotal(total)
}

// testLateBetweenTicks: with a long tick, the daemon writes the late
// numbers at its checkpoints (WriteLate) instead: the history reads the
// same, and the tick after them writes only the current lines.
func testLateBetweenTicks(t *testing.T, b backend) {
	start := base.Add(2 * time.Hour)
	r := newLateRig(t, b, start, tree.New())
	total := r.backlogThen(start.Add(-2*time.Hour), 120, 25, r.f.WriteLate)
	if !r.f.Pending() {
		t.Errorf("Pending = false with the backlog's last 20 minutes not written")
	}
	r.f.WriteLate()
	if r.f.Pending() {
		t.Errorf("Pending = true after WriteLate")
	}
	r.liveAndCheck(6, total, start.Add(-2*time.Hour), start)
}

// liveAndCheck runs n ticks of 5 current requests, then checks the 120
// minutes of history from `from`, the ticks from start and the total
// (backlog plus the ticks').
func (r *lateRig) liveAndCheck(n int, backlog float64, from, start time.Time) {
	r.t.Helper()
	for range n {
		r.tick(5)
	}
	r.checkHistory(from, 120, false)
	r.checkLive(start, 5)
	r.checkTotal(backlog + float64(5*n))
}

// TestLateFull: the Follower asks to be written once it holds
// MaxLatePending late numbers, and not before.
func TestLateFull(t *testing.T) {
	now, f := noonFollower(t)
	var left atomic.Int64
	left.Store(math.MaxInt64)
	late := f.Late(now.Add(-time.Hour))
	ds := make([]tree.Delta, 0, 1024)
	for i := 0; i < MaxLatePending; i += cap(ds) {
		ds = ds[:0]
		for j := i; j < i+cap(ds); j++ {
			ds = append(ds, tree.Delta{Path: []string{"full", strconv.Itoa(j)}, Value: 1})
		}
		select {
		case <-f.Full():
			t.Fatalf("Full after %d late numbers, want at %d", i, MaxLatePending)
		default:
		}
		if _, err := late.ApplyBudget(ds, &left); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-f.Full():
	default:
		t.Fatalf("no Full after %d late numbers", MaxLatePending)
	}
	f.WriteLate()
	if f.Pending() {
		t.Errorf("Pending after WriteLate")
	}
}

// testLateUnderLive: a replay of older logs into a daemon that already
// counts the same key: the replayed minutes read as their counts, the
// ticks do not move, every line is counted once.
func testLateUnderLive(t *testing.T, b backend) {
	start := base.Add(2 * time.Hour)
	r := newLateRig(t, b, start, tree.New())
	for range 3 {
		r.tick(5)
	}
	total := 15 + r.backlog(start.Add(-150*time.Minute), 120, 40)
	for range 3 {
		r.tick(5)
	}
	total += 15
	r.checkHistory(start.Add(-150*time.Minute), 120, false)
	r.checkLive(start, 5)
	r.checkTotal(total)
}

// TestLateSplit: lines are cut at the tick before now and at the log's
// interval boundaries; lines without a time go with the one before.
func TestLateSplit(t *testing.T) {
	now, f := noonFollower(t)
	at := func(sec int) []byte { return []byte(now.Add(time.Duration(sec) * time.Second).Format(time.RFC3339)) }
	timeOf := func(b []byte) (time.Time, bool) {
		t, err := time.Parse(time.RFC3339, string(b))
		return t, err == nil
	}
	cases := []struct {
		name  string
		lines [][]byte
		want  []string // each run: its lines' count and its interval's end (or "now")
	}{
		{"all current", [][]byte{at(-5), at(-1), at(0)}, []string{"3 now"}},
		{"all late", [][]byte{at(-95), at(-94), at(-81), []byte("x"), at(-30)}, []string{"2 11:58:30", "2 11:58:40", "1 11:59:40"}},
		{"late then current", [][]byte{at(-65), at(-11), at(-9), at(2)}, []string{"1 11:59:00", "1 11:59:50", "2 now"}},
		{"no times", [][]byte{[]byte("a"), []byte("b")}, []string{"2 now"}},
		{"late after a line without a time", [][]byte{[]byte("x"), at(-95), at(-94)}, []string{"3 11:58:30"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			err := f.Split(c.lines, timeOf, now, func(lines [][]byte, late *Late) error {
				end := "now"
				if late != nil {
					end = time.UnixMilli(late.ts + 1).UTC().Format(time.TimeOnly)
				}
				got = append(got, strconv.Itoa(len(lines))+" "+end)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("runs %q, want %q", got, c.want)
			}
		})
	}
}

// testLateRestartMidInterval: a daemon stopped in the middle of a
// backlog, with one interval's lines written in two parts, restarted on
// its snapshot (the tree held every line read): the rest of that interval
// and of the backlog continue the history, and no line is counted twice.
func testLateRestartMidInterval(t *testing.T, b backend) {
	start := base.Add(2 * time.Hour)
	from := start.Add(-time.Hour)
	tr := tree.New()
	r := newLateRig(t, b, start, tr)
	total := r.backlogThen(from, 30, 10, r.f.WriteLate)
	mid := from.Add(30 * time.Minute)
	r.late(mid.Add(time.Second), 2, 30)
	r.f.WriteLate()
	r.late(mid.Add(2*time.Second), 1, 30)
	r.f.WriteLate()
	total += 3
	// The restart: a new store on the same history, following the tree
	// as the snapshot restored it.
	flush(t, r.s)
	mark := r.f.LateMark()
	r.s = New(Options{Backend: r.s.be, Now: func() time.Time { return r.clock }})
	r.f = r.s.Follow(tr)
	r.f.SetLateMark(mark)
	r.late(mid.Add(3*time.Second), 4, 30)
	r.f.WriteLate()
	total += 4
	rest := r.backlogThen(mid.Add(time.Minute), 29, 10, r.f.WriteLate)
	r.f.WriteLate()
	total += rest
	for range 6 {
		r.tick(5)
	}
	total += 30
	req := r.read("requests", from, from.Add(time.Hour-time.Millisecond), time.Minute, AsCount, FnAuto)
	for m, p := range req.Points {
		want := perMinute(m)
		switch {
		case m == 30:
			want = 7
		case m > 30:
			want = perMinute(m - 31)
		}
		if p.V != want {
			t.Errorf("requests in minute %d of the backlog = %v, want %v", m, p.V, want)
		}
	}
	r.checkLive(start, 5)
	r.checkTotal(total)
}

// noonFollower follows a new tree into an embedded store whose clock
// stands at noon.
func noonFollower(t *testing.T) (time.Time, *Follower) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	return now, embeddedBackend().open(t, Options{Now: func() time.Time { return now }}).Follow(tree.New())
}
