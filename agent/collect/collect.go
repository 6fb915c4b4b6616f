// Package collect is canopy-agent's scheduler: it reads the module configs
// folder (NAME.conf on, NAME.conf.off off, watched so switching needs no
// restart), loads the modules, asks each collection
// group's metrics on its schedule, keeps only values that moved beyond
// their value_threshold or whose time_threshold passed (gmond's rules), and
// hands one batch per round to the push client.
package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/agent/modules"
	"github.com/canopy-dev/canopy/agent/push"
	"github.com/canopy-dev/canopy/agent/pyconf"
	"github.com/canopy-dev/canopy/sdk/collectorabi"
)

// Options configures an Agent.
type Options struct {
	// Host is this machine's name: values land at MODULE,HOST,METRIC.
	Host string
	// ConfigsDir holds NAME.conf module configs.
	ConfigsDir string
	// Every, when > 0, replaces every group's collect_every.
	Every time.Duration
	// Rescan is how often ConfigsDir is checked (default 2 s) where the
	// folders cannot be watched for changes; with a watch, a change is
	// seen within settle and the folders are checked once a minute anyway.
	Rescan  time.Duration
	Runtime *modules.Runtime
	// Sink receives one batch per collection round.
	Sink func(push.Batch) error
	Logf func(format string, args ...any)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Agent runs the modules of a configs folder.
type Agent struct {
	opt   Options
	sig   string
	mods  []*modules.Module
	tasks []*task
	// Rounds counts collection rounds that produced values, for tests.
	rounds int
}

// task is one module's metrics of one collection group.
type task struct {
	mod    *modules.Module
	action string
	every  time.Duration
	thresh time.Duration
	idx    []uint32
	rules  []pyconf.MetricRule
	last   []sent
	next   time.Time
}

type sent struct {
	ok   bool
	num  float64
	text string
	at   time.Time
}

// New returns an agent; Run starts it.
func New(opt Options) *Agent {
	if opt.Rescan <= 0 {
		opt.Rescan = 2 * time.Second
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Agent{opt: opt}
}

// Run collects until ctx ends, then runs every module's metric_cleanup.
func (a *Agent) Run(ctx context.Context) error {
	defer func() { modules.Close(context.Background(), a.mods) }()
	w := newWatcher()
	defer w.close()
	// Watching before the first read: a change after it is an event.
	w.sync(a.watched, a.opt.Rescan)
	a.reload(ctx)
	rescan := a.opt.Now().Add(w.sync(a.watched, a.opt.Rescan))
	for {
		now := a.opt.Now()
		if !now.Before(rescan) {
			a.reload(ctx)
			rescan = now.Add(w.sync(a.watched, a.opt.Rescan))
		}
		if err := a.Round(ctx, now); err != nil {
			a.opt.Logf("%v", err)
		}
		wake := rescan
		for _, t := range a.tasks {
			if t.next.Before(wake) {
				wake = t.next
			}
		}
		timer := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case ev := <-w.events():
			timer.Stop()
			if w.relevant(ev.Name) {
				// Editors write in steps: look once the burst is over.
				if r := a.opt.Now().Add(settle); r.Before(rescan) {
					rescan = r
				}
			}
		case <-w.errors():
			timer.Stop()
			rescan = a.opt.Now() // events may be lost: look now
		case <-timer.C:
		}
	}
}

// watched returns the configs folder and the files of the modules in use
// (where a module file would be, for a built-in: one put there replaces
// it); a change to any of them may need a reload.
func (a *Agent) watched() (string, []string) {
	var files []string
	for _, m := range a.mods {
		files = append(files, a.opt.Runtime.FilePath(m.Conf.Path))
	}
	return a.opt.ConfigsDir, files
}

// Once loads the modules, runs one collection round of every task and
// unloads them: `canopy-agent -once` prints what would be pushed.
func (a *Agent) Once(ctx context.Context) error {
	defer func() { modules.Close(context.Background(), a.mods) }()
	a.reload(ctx)
	for _, m := range a.mods {
		if m.Err != nil {
			return fmt.Errorf("module %s: %w", m.Name(), m.Err)
		}
	}
	return a.Round(ctx, a.opt.Now())
}

// Rounds returns the number of collection rounds that produced a batch.
func (a *Agent) Rounds() int { return a.rounds }

// Modules returns the loaded modules.
func (a *Agent) Modules() []*modules.Module { return a.mods }

// signature fingerprints the configs folder and the module files it names,
// so a change to either reloads.
func (a *Agent) signature() (string, []string) {
	ents, err := os.ReadDir(a.opt.ConfigsDir)
	if err != nil {
		return "error:" + err.Error(), nil
	}
	var b strings.Builder
	var files []string
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".conf") {
			continue // NAME.conf.off and others are off
		}
		p := filepath.Join(a.opt.ConfigsDir, e.Name())
		files = append(files, p)
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	for _, m := range a.mods {
		p := a.opt.Runtime.Resolve(m.Conf.Path)
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String(), files
}

// reload reloads everything when the configs folder or a module file
// changed. Threshold state restarts, so every value is sent once again.
func (a *Agent) reload(ctx context.Context) {
	sig, files := a.signature()
	if sig == a.sig {
		return
	}
	var confs []pyconf.Module
	type fileGroups struct {
		mods   []string
		groups []pyconf.Group
	}
	var fgs []fileGroups
	seen := map[string]string{}
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			a.opt.Logf("module config: %v", err)
			continue
		}
		c, err := pyconf.ParseConfig(p, src)
		if err != nil {
			a.opt.Logf("module config skipped: %v", err)
			continue
		}
		var names []string
		for _, m := range c.Modules {
			if !m.Enabled {
				continue
			}
			if other, dup := seen[m.Name]; dup {
				a.opt.Logf("module %q in %s is already defined in %s; skipped", m.Name, p, other)
				continue
			}
			seen[m.Name] = p
			confs = append(confs, m)
			names = append(names, m.Name)
		}
		fgs = append(fgs, fileGroups{names, c.Groups})
	}
	modules.Close(ctx, a.mods)
	a.mods = a.opt.Runtime.Load(ctx, confs)
	byName := map[string]*modules.Module{}
	for _, m := range a.mods {
		byName[m.Name()] = m
		if m.Err != nil {
			a.opt.Logf("module %s: %v", m.Name(), m.Err)
		}
	}
	a.tasks = nil
	now := a.opt.Now()
	for _, fg := range fgs {
		groups := fg.groups
		if len(groups) == 0 {
			// No collection_group: every metric, every 10 s, resent each
			// minute even when unchanged (gmond's usual settings).
			groups = []pyconf.Group{{CollectEvery: 10 * time.Second, TimeThreshold: time.Minute,
				Metrics: []pyconf.MetricRule{{NameMatch: matchAll}}}}
		}
		for _, name := range fg.mods {
			m := byName[name]
			if m == nil || m.Err != nil {
				continue
			}
			taken := make([]bool, len(m.Metrics))
			for _, g := range groups {
				t := &task{mod: m, action: m.Conf.DefaultAction, every: g.CollectEvery, thresh: g.TimeThreshold, next: now}
				if a.opt.Every > 0 {
					t.every = a.opt.Every
				}
				for i, d := range m.Metrics {
					if taken[i] {
						continue
					}
					for _, r := range g.Metrics {
						if r.Matches(d.Name) {
							taken[i] = true
							t.idx = append(t.idx, uint32(i))
							t.rules = append(t.rules, r)
							break
						}
					}
				}
				if len(t.idx) > 0 {
					t.last = make([]sent, len(t.idx))
					a.tasks = append(a.tasks, t)
				}
			}
		}
	}
	// Fingerprint again now that the module files are known, so the next
	// check does not see them as a change.
	if sig2, _ := a.signature(); sig2 != "" {
		sig = sig2
	}
	a.sig = sig
	a.opt.Logf("loaded %d modules, %d collection tasks from %s", len(a.mods), len(a.tasks), a.opt.ConfigsDir)
	// Compiling leaves garbage; hand it back so the agent stays small.
	debug.FreeOSMemory()
}

// matchAll selects every metric (configs without a collection_group).
var matchAll = regexp.MustCompile("")

// Round collects every task due at now and sends one batch.
func (a *Agent) Round(ctx context.Context, now time.Time) error {
	trees := map[string]map[string]any{} // action → push object
	var lines []string
	for _, t := range a.tasks {
		if now.Before(t.next) {
			continue
		}
		// Keep the schedule on its grid; skip missed slots after a stall.
		t.next = t.next.Add(t.every)
		if !t.next.After(now) {
			t.next = now.Add(t.every)
		}
		v, err := t.mod.Values(ctx, t.idx)
		if err != nil {
			a.opt.Logf("module %s: %v", t.mod.Name(), err)
			continue
		}
		lines = append(lines, v.Forward...)
		for i, x := range v.Values {
			if x.Kind == collectorabi.ValueMissing {
				continue
			}
			send, meta := t.due(i, x, now)
			if !send {
				continue
			}
			obj := trees[t.action]
			if obj == nil {
				obj = map[string]any{"defaultaction": t.action}
				trees[t.action] = obj
			}
			var val any = x.Number
			if x.Kind == collectorabi.ValueText {
				val = x.Text // a marker in the tree
			}
			d := &t.mod.Metrics[t.idx[i]]
			path := append([]string{t.mod.Name(), a.opt.Host}, strings.Split(d.Name, collectorabi.MetricPathSep)...)
			unit := ""
			if meta && x.Kind != collectorabi.ValueText {
				// The module's Ganglia units ride along when the value is
				// first sent and at each time_threshold resend, as gmond
				// resends its metadata: the daemon keeps them in the tree.
				unit = d.Units
			}
			insert(obj, path, val, unit)
		}
	}
	if len(trees) == 0 && len(lines) == 0 {
		return nil
	}
	var b push.Batch
	actions := make([]string, 0, len(trees))
	for k := range trees {
		actions = append(actions, k)
	}
	sort.Strings(actions)
	for _, k := range actions {
		j, err := json.Marshal(trees[k])
		if err != nil {
			return fmt.Errorf("cannot encode push: %w", err)
		}
		b.JSON = append(b.JSON, j)
	}
	b.AccessLog = lines
	a.rounds++
	return a.opt.Sink(b)
}

// due applies gmond's thresholds: send when never sent, when the value
// moved more than value_threshold (any change when 0), or when
// time_threshold passed since it was last sent. meta is true for the
// first send and the time_threshold resends (the ones that carry units).
func (t *task) due(i int, x collectorabi.MetricValue, now time.Time) (send, meta bool) {
	l := &t.last[i]
	meta = !l.ok || now.Sub(l.at) >= t.thresh
	send = meta
	if !send {
		if x.Kind == collectorabi.ValueText {
			send = x.Text != l.text
		} else if th := t.rules[i].ValueThreshold; th > 0 {
			send = math.Abs(x.Number-l.num) > th
		} else {
			send = x.Number != l.num
		}
	}
	if send {
		*l = sent{ok: true, num: x.Number, text: x.Text, at: now}
	}
	return send, meta
}

// insert sets path in a nested push object; a node that holds both a
// number and children keeps its number under "" (the tree's push shape),
// as does one with a unit (its "defaultunit").
func insert(obj map[string]any, path []string, v any, unit string) {
	cur := obj
	for i, seg := range path {
		last := i == len(path)-1
		existing, ok := cur[seg]
		if last {
			m, isMap := existing.(map[string]any)
			switch {
			case ok && isMap:
				m[""] = v
			case unit != "":
				m = map[string]any{"": v}
				cur[seg] = m
			default:
				cur[seg] = v
			}
			if unit != "" {
				m["defaultunit"] = unit
			}
			return
		}
		m, isMap := existing.(map[string]any)
		if !isMap {
			m = map[string]any{}
			if ok {
				m[""] = existing
			}
			cur[seg] = m
		}
		cur = m
	}
}
