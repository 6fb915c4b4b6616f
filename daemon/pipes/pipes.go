// Package pipes runs canopy's WASM pipes: it loads every .wasm in the
// pipes folder (and hot-adds, replaces and removes them while running),
// parses access-log lines once, fans each batch of records out to every
// pipe on all cores, and merges the pipes' deltas into the tree.
//
// Exactly-once across reloads: each batch is processed against one
// immutable snapshot of the pipe set, taken when the batch starts. A
// reload swaps in a new snapshot; batches already running finish on the
// old pipes (which are closed once they drain), later batches use the new
// ones. So every line reaches exactly one version of each pipe.
package pipes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/timespec"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// Defaults of Options.
const (
	// DefaultBatchSize: a pipe call has a fixed cost (the call, the
	// batch's Emits and the host's check of its deltas, ~20 µs in WASM),
	// and the top-N and dictionary pipes work per distinct value of a
	// batch: 8,192 lines against 2,048 cut the hosts pipe's WASM CPU per
	// line by ~40 % and visitors' and time's by ~40 % (bench/pipebench).
	DefaultBatchSize = 8192
	minBatchSize     = 256
	DefaultPoll      = 250 * time.Millisecond
	// DefaultMaxKeys caps the keys one pipe may create (pipes: config:
	// NAME: max_keys): far above what the built-in pipes make with their
	// own caps, low enough that a pipe emitting a new key per line cannot
	// take the daemon's memory (≈200 bytes a node).
	DefaultMaxKeys = 1_000_000
)

// Options configures a Manager.
type Options struct {
	// Dir is the pipes folder ("" runs no folder: pipes come from
	// Builtins and Add).
	Dir string
	// Builtins are pipes that run without a folder (NAME.wasm at the
	// root; the daemon passes the embedded ones). A folder file of the
	// same name replaces a built-in; Config.Disable turns one off.
	Builtins fs.FS
	Tree     *tree.Tree
	// Engine compiles the modules (its cache dir makes restarts fast).
	Engine *host.Engine
	// Background makes New return before the first load is done: the
	// pipes compile meanwhile (Status shows each one loading), and Run
	// waits until every one of them is in (see Ready).
	Background bool
	// Config is the `pipes:` section; per-pipe settings are keyed by the
	// file's base name (browser.wasm → browser).
	Config config.PipesConfig
	// Workers is how many batches run at once (default GOMAXPROCS).
	Workers int
	// BatchSize is how many lines go to a pipe per call (default 8192).
	BatchSize int
	// Poll is how often the folder is rescanned (default 250 ms).
	Poll time.Duration
	// Limits are the defaults for every pipe (per-pipe config overrides).
	Limits host.Limits
	Log    *log.Logger
	// Observe, when set, sees every pipe call on a batch: the pipe, how
	// many records it got, the deltas it emitted and why the batch
	// failed (a skipped quarantined pipe fails with host.ErrQuarantined).
	// `canopyd pipe test` prints from it; it runs on the batch's worker.
	Observe func(p *host.Pipe, records int, ds []pipeabi.Delta, err error)
}

// Manager owns the loaded pipes. Safe for concurrent use.
type Manager struct {
	opt Options
	log *log.Logger

	mu  sync.RWMutex // guards set (swap vs. acquire)
	set *pipeSet

	scanMu  sync.Mutex // one scan (or Add) at a time
	filesMu sync.Mutex // guards files
	files   map[string]*fileState
	// settling holds folder files seen new or changed by the last watch
	// scan, loaded once a scan finds them the same (guarded by scanMu).
	settling map[string]candidate

	formats sync.Map // log_format text → *logformat.Format
	workers sync.Pool
	sem     chan struct{}

	// ready is closed when the first load is done: no line runs before
	// it, so every line meets every pipe that loads at start.
	ready chan struct{}

	lines, bad, applyErrs atomic.Uint64
	badSample             atomic.Value // string
	closed                chan struct{}
	wg                    sync.WaitGroup
}

// pipeSet is an immutable snapshot of the loaded pipes.
type pipeSet struct {
	pipes    []*loaded
	needUA   bool
	needVars bool // a pipe reads var:NAME: the parser records raw variables
	inflight sync.WaitGroup
}

// loaded is one pipe in a set.
type loaded struct {
	file     string
	p        *host.Pipe
	layout   string // field list, to share encodings between pipes
	prefixes sync.Map
	// maxKeys is the pipe's key cap; keysLeft what is left of it (debited
	// by the tree under its lock).
	maxKeys  int64
	keysLeft atomic.Int64
	// units are the pipe's declared units (NAME.units.json, units.go).
	units []unitDecl
}

// fileState is what the scanner knows about one file in the folder.
type fileState struct {
	size    int64
	mtime   time.Time
	l       *loaded
	err     error
	errAt   time.Time
	disable bool
	added   bool // from Add, not the folder
	// origin is OriginBuiltin or the file's path in the folder.
	origin  string
	loadDur time.Duration
	// loading: a load of this file is running (a replaced file keeps its
	// running version, l, meanwhile).
	loading bool
}

// New makes a Manager and loads the built-ins and the folder once (in the
// background with Options.Background).
func New(opt Options) (*Manager, error) {
	if opt.Tree == nil || opt.Engine == nil {
		return nil, errors.New("pipes: Options.Tree and Options.Engine are required")
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.Poll <= 0 {
		opt.Poll = DefaultPoll
	}
	m := &Manager{opt: opt, log: opt.Log, set: &pipeSet{}, files: map[string]*fileState{},
		settling: map[string]candidate{}, sem: make(chan struct{}, opt.Workers), closed: make(chan struct{}), ready: make(chan struct{})}
	if m.log == nil {
		m.log = log.New(os.Stderr, "pipes: ", log.LstdFlags)
	}
	m.workers.New = func() any { return &worker{parsers: map[*logformat.Format]*logformat.Parser{}} }
	if opt.Dir == "" && opt.Builtins == nil {
		close(m.ready)
		return m, nil
	}
	// The folder is listed here, so a bad folder fails New; the loads
	// then hold scanMu until they are done, so no rescan plans meanwhile.
	m.scanMu.Lock()
	jobs, seen, err := m.plan(false)
	if err != nil {
		m.scanMu.Unlock()
		return nil, err
	}
	first := func() {
		defer close(m.ready)
		defer m.scanMu.Unlock()
		m.loadPlanned(context.Background(), jobs, seen)
	}
	if !opt.Background {
		first()
		return m, nil
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		first()
	}()
	return m, nil
}

// Ready is closed once the pipes present at New are loaded (or failed to).
func (m *Manager) Ready() <-chan struct{} { return m.ready }

func (m *Manager) isReady() bool {
	select {
	case <-m.ready:
		return true
	default:
		return false
	}
}

// Watch rescans the folder every Poll until ctx ends or Close. (Ticks come
// from the daemon's clock: see Tick.)
func (m *Manager) Watch(ctx context.Context) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		var scan <-chan time.Time
		if m.opt.Dir != "" {
			t := time.NewTicker(m.opt.Poll)
			defer t.Stop()
			scan = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.closed:
				return
			case <-scan:
				if err := m.scan(ctx, true); err != nil {
					m.log.Printf("%v", err)
				}
			}
		}
	}()
}

// Tick calls canopy_tick on one instance of every pipe and merges what
// they emit. Each instance sees only its share of the lines, so a pipe's
// tick should emit per-interval values derived from what it saw. The
// daemon's one clock calls it every trend interval, before the trend store
// collects the tree.
func (m *Manager) Tick(ctx context.Context, now time.Time) {
	set := m.acquire()
	defer set.inflight.Done()
	w := m.workers.Get().(*worker)
	defer m.workers.Put(w)
	for _, l := range set.pipes {
		if l.p.Breaker.Quarantined() {
			continue
		}
		// Every idle instance (each has its own share of the lines); an
		// instance busy with a batch right now misses this tick.
		w.deltas = w.deltas[:0]
		var err error
		for _, pi := range l.p.TakeIdle() {
			var terr error
			w.deltas, terr = pi.Tick(ctx, now, w.deltas)
			l.p.Put(ctx, pi)
			if terr != nil {
				err = terr
			}
		}
		if err != nil {
			m.log.Printf("%v", err)
		}
		if len(w.deltas) == 0 {
			continue
		}
		w.tdeltas = w.toTree(w.tdeltas[:0], w.deltas, l.p.Manifest, nil)
		if _, err := m.apply(context.Background(), l, w.tdeltas); err != nil {
			m.log.Printf("tick: %v", err)
		}
	}
}

// Close stops watching and unloads every pipe after running batches end.
func (m *Manager) Close() {
	select {
	case <-m.closed:
		return
	default:
	}
	close(m.closed)
	m.wg.Wait()
	m.mu.Lock()
	old := m.set
	m.set = &pipeSet{}
	m.mu.Unlock()
	old.inflight.Wait()
	for _, l := range old.pipes {
		l.p.Close(context.Background())
	}
}

// Scan brings the loaded set in line with the folder: new and changed
// .wasm files are (re)loaded, removed ones unloaded. A file that fails to
// load is reported in Status and retried when it changes. Loads run in
// parallel (one per CPU) and without holding the lock Status takes.
func (m *Manager) Scan(ctx context.Context) error { return m.scan(ctx, false) }

// scan is Scan; with settle (the watcher's scans) a new or changed folder
// file is loaded only once two scans in a row find it the same size and
// modification time: a file being copied in is not loaded half-written
// (and reported broken) while the copy runs.
func (m *Manager) scan(ctx context.Context, settle bool) error {
	m.scanMu.Lock()
	defer m.scanMu.Unlock()
	jobs, seen, err := m.plan(settle)
	if err != nil {
		return err
	}
	m.loadPlanned(ctx, jobs, seen)
	return nil
}

// loadJob is one file to (re)load.
type loadJob struct {
	name string
	c    candidate
	fs   *fileState
	old  *fileState // what ran before, nil for a new file
	pc   config.PipeConfig
}

// plan lists the files that changed since the last scan (and every file
// seen). A new file is entered at once as loading, a replaced one marked
// loading, so Status shows them while they compile. settle is scan's.
// Callers hold scanMu.
func (m *Manager) plan(settle bool) ([]loadJob, map[string]bool, error) {
	cands, err := m.candidates()
	if err != nil {
		return nil, nil, err
	}
	var jobs []loadJob
	seen := map[string]bool{}
	disabled := map[string]bool{}
	for _, n := range m.opt.Config.Disable {
		disabled[strings.TrimSuffix(n, ".wasm")] = true
	}
	for name := range m.settling {
		if _, ok := cands[name]; !ok {
			delete(m.settling, name)
		}
	}
	m.filesMu.Lock()
	defer m.filesMu.Unlock()
	for name, c := range cands {
		seen[name] = true
		old := m.files[name]
		if old != nil && old.origin == c.origin && old.size == c.size && old.mtime.Equal(c.mtime) {
			delete(m.settling, name)
			continue
		}
		if settle && c.origin != OriginBuiltin {
			if prev, ok := m.settling[name]; !ok || prev.size != c.size || !prev.mtime.Equal(c.mtime) {
				m.settling[name] = c
				continue
			}
			delete(m.settling, name)
		}
		nfs := &fileState{size: c.size, mtime: c.mtime, origin: c.origin}
		base := strings.TrimSuffix(name, ".wasm")
		pc := m.opt.Config.Config[base]
		nfs.disable = pc.Disabled || disabled[base]
		nfs.loading = !nfs.disable
		switch {
		case old == nil:
			m.files[name] = nfs
		case !nfs.disable:
			old.loading = true
		}
		jobs = append(jobs, loadJob{name: name, c: c, fs: nfs, old: old, pc: pc})
	}
	return jobs, seen, nil
}

// loadPlanned loads the planned files, at most GOMAXPROCS at once, then
// publishes the new set (one swap for all of them, so a batch sees all of
// a scan's changes or none). Callers hold scanMu.
func (m *Manager) loadPlanned(ctx context.Context, jobs []loadJob, seen map[string]bool) {
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.fs.disable {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			l, err := m.load(ctx, j.c, j.pc)
			dur := time.Since(start)
			// j.fs may already be in files (a new file): Status reads it.
			m.filesMu.Lock()
			j.fs.loadDur, j.fs.loading = dur, false
			if err != nil {
				j.fs.err, j.fs.errAt = err, time.Now()
			} else {
				l.file = j.name
				j.fs.l = l
			}
			m.filesMu.Unlock()
			if err != nil {
				m.log.Printf("pipe %s not loaded: %v", j.name, err)
				return
			}
			m.log.Printf("pipe %s loaded from %s: %s %s in %v", j.name, j.c.origin, l.p.Name(), l.p.Manifest.Version, dur.Round(time.Millisecond))
		}()
	}
	wg.Wait()

	m.filesMu.Lock()
	changed := false
	for _, j := range jobs {
		old := j.old
		if old != nil && old.l != nil && j.fs.l == nil && j.fs.err != nil {
			// A broken replacement: keep running the version that worked;
			// Status shows both the load error and the running version.
			j.fs.l = old.l
			m.files[j.name] = j.fs
			continue
		}
		if old != nil && old.l != nil || j.fs.l != nil {
			changed = true
		}
		m.files[j.name] = j.fs
	}
	for name, fs := range m.files {
		if !seen[name] && !fs.added {
			if fs.l != nil {
				changed = true
				m.log.Printf("pipe %s removed", name)
			}
			delete(m.files, name)
		}
	}
	m.filesMu.Unlock()
	if changed {
		m.swap()
	}
}

// OriginBuiltin is PipeStatus.Origin of a pipe embedded in the binary.
const OriginBuiltin = "builtin"

// candidate is one .wasm that should run: a built-in or a folder file.
type candidate struct {
	name   string // NAME.wasm
	origin string // OriginBuiltin or the folder file's path
	size   int64
	mtime  time.Time
}

// candidates lists the built-ins, then the folder's files, which replace
// built-ins of the same name.
func (m *Manager) candidates() (map[string]candidate, error) {
	out := map[string]candidate{}
	if m.opt.Builtins != nil {
		ents, err := fs.ReadDir(m.opt.Builtins, ".")
		if err != nil {
			return nil, fmt.Errorf("cannot list built-in pipes: %w", err)
		}
		for _, e := range ents {
			if info, err := e.Info(); err == nil && !e.IsDir() && strings.HasSuffix(e.Name(), ".wasm") {
				out[e.Name()] = candidate{name: e.Name(), origin: OriginBuiltin, size: info.Size()}
			}
		}
	}
	if m.opt.Dir == "" {
		return out, nil
	}
	ents, err := os.ReadDir(m.opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read pipes folder %q: %w", m.opt.Dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".wasm") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out[name] = candidate{name: name, origin: filepath.Join(m.opt.Dir, name), size: info.Size(), mtime: info.ModTime()}
	}
	return out, nil
}

// load compiles and initialises one pipe file.
func (m *Manager) load(ctx context.Context, c candidate, pc config.PipeConfig) (*loaded, error) {
	path := c.origin
	var wasm []byte
	var err error
	if c.origin == OriginBuiltin {
		path = "builtin:" + c.name
		wasm, err = fs.ReadFile(m.opt.Builtins, c.name)
		if err != nil {
			return nil, fmt.Errorf("cannot read %q: %w", path, err)
		}
	} else if wasm, err = readModule(path); err != nil {
		return nil, err
	}
	opt, err := pipeOptions(m.opt.Limits, pc)
	if err != nil {
		return nil, err
	}
	unitsFile, err := m.readUnits(c)
	if err != nil {
		return nil, err
	}
	p, err := m.opt.Engine.LoadPipe(ctx, path, wasm, opt)
	if err != nil {
		return nil, err
	}
	units, err := parseUnits(unitsFile, p.Manifest)
	if err != nil {
		p.Close(context.Background())
		return nil, fmt.Errorf("pipe %s: %w", p.Name(), err)
	}
	l, err := m.prepare(p, units)
	if err != nil {
		return nil, err
	}
	if pc.MaxKeys > 0 {
		l.setMaxKeys(int64(pc.MaxKeys))
	}
	return l, nil
}

// MaxFileBytes caps a pipe file: the built-in modules are 2-4 MB, and a
// file read whole into memory must not be any size someone drops in.
const MaxFileBytes = 64 << 20

// readModule reads a folder file that should be a module: only a regular
// file (or a symlink to one) of at most MaxFileBytes. Opening a named pipe
// would block the scanner, and with it every later change, until someone
// writes to it.
func readModule(path string) ([]byte, error) {
	// Non-blocking, so opening a named pipe returns at once; the checks
	// are on the opened file, whatever the name points to by now.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file but %s", path, fileKind(fi.Mode()))
	}
	if fi.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%q has %d bytes, more than the %d a pipe module may have", path, fi.Size(), MaxFileBytes)
	}
	// Limited again: the file may grow while it is read.
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%q has more than the %d bytes a pipe module may have", path, MaxFileBytes)
	}
	return b, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}

// prepare sets the pipe's root actions and its units in the tree.
func (m *Manager) prepare(p *host.Pipe, units []unitDecl) (*loaded, error) {
	for _, r := range p.Manifest.Roots {
		if err := m.opt.Tree.SetAction(r.Path, tree.Action(r.Action)); err != nil {
			p.Close(context.Background())
			return nil, fmt.Errorf("pipe %s: cannot set defaultaction of root %q: %w", p.Name(), r.Path, err)
		}
	}
	l := &loaded{p: p, layout: strings.Join(p.Manifest.Fields, "\x00"), units: units}
	// A retry is no failure, but a stalled machine should show in the log.
	p.OnRetry = func(err error) { m.log.Printf("%v; retrying the batch on a fresh instance", err) }
	if err := m.setUnits(l, nil); err != nil {
		p.Close(context.Background())
		return nil, err
	}
	l.setMaxKeys(DefaultMaxKeys)
	return l, nil
}

func (l *loaded) setMaxKeys(n int64) {
	l.maxKeys = n
	l.keysLeft.Store(n)
}

// apply merges a pipe's deltas within its key cap; a batch that would pass
// the cap merges nothing and quarantines the pipe: a pipe creating keys
// without bound (a new key per line) would otherwise take the daemon's
// memory.
func (m *Manager) apply(ctx context.Context, l *loaded, ds []tree.Delta) (tree.MergeResult, error) {
	// Over the tree's node limit (limits.max_tree_nodes) the new keys are
	// dropped, not the batch, and the pipe is not blamed: existing keys
	// keep counting, the tree counts the drops, /status "tree" says full.
	var to Target = m.opt.Tree
	if t, ok := ctx.Value(targetKey{}).(Target); ok {
		to = t
	}
	r, err := to.ApplyBudget(ds, &l.keysLeft)
	var be *tree.KeyBudgetError
	if errors.As(err, &be) {
		reason := fmt.Sprintf("over its key cap (pipes: config: %s: max_keys %d): it created %d keys and a batch would add %d more",
			strings.TrimSuffix(l.file, ".wasm"), l.maxKeys, l.maxKeys-be.Left, be.New)
		l.p.Quarantine(reason)
		return r, fmt.Errorf("pipe %s quarantined: %s", l.p.Name(), reason)
	}
	if err != nil {
		// A conflict with what is in the tree (a number where a marker
		// is) drops this pipe's batch, like any bad output.
		l.p.Breaker.Fail(err)
		m.applyErrs.Add(1)
		return r, fmt.Errorf("pipe %s: cannot merge its deltas: %w", l.p.Name(), err)
	}
	return r, nil
}

func pipeOptions(def host.Limits, pc config.PipeConfig) (host.PipeOptions, error) {
	opt := host.PipeOptions{Limits: def, Params: pc.Params}
	if pc.MemoryMB > 0 {
		opt.Limits.MemoryBytes = uint64(pc.MemoryMB) << 20
	}
	if pc.Timeout != "" {
		d, err := timespec.ParseDuration(pc.Timeout)
		if err != nil || d <= 0 {
			return opt, fmt.Errorf("timeout %q: want a duration like 1s", pc.Timeout)
		}
		opt.Limits.CallTimeout = d
	}
	for _, rd := range pc.ReadDirs {
		hostDir, guest, ok := strings.Cut(rd, ":")
		if !ok {
			guest = hostDir
		}
		if hostDir == "" || guest == "" {
			return opt, fmt.Errorf("read_dirs entry %q: want HOSTDIR or HOSTDIR:GUESTPATH", rd)
		}
		if fi, err := os.Stat(hostDir); err != nil || !fi.IsDir() {
			return opt, fmt.Errorf("read_dirs entry %q: %s is not a directory", rd, hostDir)
		}
		opt.Grants.Mounts = append(opt.Grants.Mounts, host.Mount{HostDir: hostDir, GuestPath: guest})
	}
	for _, f := range pc.ReadFiles {
		// Only an absolute path: the guest sees it where the host has it,
		// and nothing may depend on the working directory.
		if !filepath.IsAbs(f) {
			return opt, fmt.Errorf("read_files entry %q: want an absolute path", f)
		}
		// A missing or unreadable file is the pipe's to report (it may
		// appear later); only a directory is a config mistake.
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			return opt, fmt.Errorf("read_files entry %q is a directory; read_dirs grants directories", f)
		}
		opt.Grants.Files = append(opt.Grants.Files, host.FileGrant{HostFile: f, GuestPath: filepath.ToSlash(f)})
	}
	return opt, nil
}

// swap publishes the loaded files as the new set and closes pipes that
// left it once the batches using the old set are done. Callers hold scanMu.
func (m *Manager) swap() {
	ns := &pipeSet{}
	m.filesMu.Lock()
	names := make([]string, 0, len(m.files))
	for n := range m.files {
		names = append(names, n)
	}
	slices.Sort(names)
	var ls []*loaded
	for _, n := range names {
		ls = append(ls, m.files[n].l)
	}
	m.filesMu.Unlock()
	keep := map[*loaded]bool{}
	for _, l := range ls {
		if l != nil {
			ns.pipes = append(ns.pipes, l)
			keep[l] = true
			ns.needUA = ns.needUA || wantsUA(l.p.Manifest)
			ns.needVars = ns.needVars || wantsVars(l.p.Manifest)
		}
	}
	m.mu.Lock()
	old := m.set
	m.set = ns
	m.mu.Unlock()
	var gone []*loaded
	for _, l := range old.pipes {
		if !keep[l] {
			gone = append(gone, l)
		}
	}
	if len(gone) == 0 {
		return
	}
	go func() {
		old.inflight.Wait()
		for _, l := range gone {
			l.p.Close(context.Background())
		}
	}()
}

// Add loads a pipe that is not from the folder (tests, benchmarks, native
// pipes); it joins the current set.
func (m *Manager) Add(name string, p *host.Pipe) error {
	l, err := m.prepare(p, nil)
	if err != nil {
		return err
	}
	l.file = name
	if pc := m.opt.Config.Config[strings.TrimSuffix(name, ".wasm")]; pc.MaxKeys > 0 {
		l.setMaxKeys(int64(pc.MaxKeys))
	}
	m.scanMu.Lock()
	defer m.scanMu.Unlock()
	m.filesMu.Lock()
	m.files[name] = &fileState{l: l, added: true}
	m.filesMu.Unlock()
	m.swap()
	return nil
}

func wantsUA(man *pipeabi.Manifest) bool {
	for _, f := range man.Fields {
		if f == pipeabi.FieldUA || strings.HasPrefix(f, "ua_") {
			return true
		}
	}
	return false
}

func wantsVars(man *pipeabi.Manifest) bool {
	for _, f := range man.Fields {
		if strings.HasPrefix(f, "var:") {
			return true
		}
	}
	return false
}

// acquire returns the current set, counted as in use until release.
func (m *Manager) acquire() *pipeSet {
	m.mu.RLock()
	s := m.set
	s.inflight.Add(1)
	m.mu.RUnlock()
	return s
}

// Format compiles (and caches) a log_format text or preset.
func (m *Manager) Format(spec string) (*logformat.Format, error) {
	if spec == "" {
		spec = "combined"
	}
	if f, ok := m.formats.Load(spec); ok {
		return f.(*logformat.Format), nil
	}
	f, err := logformat.Compile(spec)
	if err != nil {
		return nil, err
	}
	m.formats.Store(spec, f)
	return f, nil
}

// Target takes a run's deltas in place of the tree: the trend store's
// backlog recorder merges them into the tree itself and dates them at the
// lines' own times (see WithTarget).
type Target interface {
	ApplyBudget(ds []tree.Delta, left *atomic.Int64) (tree.MergeResult, error)
}

type targetKey struct{}

// WithTarget makes the runs under ctx hand their deltas to t instead of
// the tree (pipe ticks are not runs: they always merge into the tree).
func WithTarget(ctx context.Context, t Target) context.Context {
	return context.WithValue(ctx, targetKey{}, t)
}

// Result says what a run of lines did.
type Result struct {
	Lines, Bad       int
	Numbers, Markers int
	Version          uint64
	// Errors samples why lines were bad (a few at most).
	Errors []string
}

const maxErrorSamples = 5

func (r *Result) add(o *Result) {
	r.Lines += o.Lines
	r.Bad += o.Bad
	r.Numbers += o.Numbers
	r.Markers += o.Markers
	r.Version = max(r.Version, o.Version)
	for _, e := range o.Errors {
		if len(r.Errors) < maxErrorSamples {
			r.Errors = append(r.Errors, e)
		}
	}
}

// Run parses lines with formats (tried in order for each line: the first
// that matches wins), runs them through every pipe in batches on up to
// Workers goroutines and merges the deltas under prefix. It returns when
// everything is in the tree. Lines alias the caller's buffers only for the
// duration of the call.
func (m *Manager) Run(ctx context.Context, formats []*logformat.Format, prefix []string, lines [][]byte) Result {
	return m.RunFrom(ctx, formats, prefix, lines, 0)
}

// RunFrom is Run for lines that follow first others of the same input:
// bad-line samples count from first+1.
func (m *Manager) RunFrom(ctx context.Context, formats []*logformat.Format, prefix []string, lines [][]byte, first int) Result {
	var total Result
	if len(lines) == 0 {
		return total
	}
	// Until the first load is done the set lacks pipes that are still
	// compiling: a line run now would miss them for good. So the caller
	// waits (a followed file's offset does not move meanwhile).
	<-m.ready
	bs := m.opt.BatchSize
	// A call shorter than a batch per worker is split evenly so every core
	// works, but batches stay long enough to amortise a pipe call.
	if share := (len(lines) + m.opt.Workers - 1) / m.opt.Workers; share < bs {
		bs = max(share, min(minBatchSize, bs))
	}
	if len(lines) <= bs {
		m.sem <- struct{}{}
		total = m.runBatch(ctx, formats, prefix, lines, first)
		<-m.sem
		return total
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for start := 0; start < len(lines); start += bs {
		end := min(start+bs, len(lines))
		m.sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := m.runBatch(ctx, formats, prefix, lines[start:end], first+start)
			<-m.sem
			mu.Lock()
			total.add(&r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

// worker holds one goroutine's reusable parse and encode state.
type worker struct {
	parsers map[*logformat.Format]*logformat.Parser
	ps      []*logformat.Parser // the current batch's, one per format
	agents  *host.AgentCache
	lr      logformat.Record   // parsed into for text formats
	lrecs   []logformat.Record // one per line for JSON formats (see parseBatch)
	arecs   []pipeabi.Record
	cols    pipeabi.SharedColumns // each field encoded once per batch, shared by the pipes
	bufs    map[string][]byte     // encode buffers by layout, reused
	done    map[string]bool       // layouts encoded for the current batch
	deltas  []pipeabi.Delta
	tdeltas []tree.Delta
}

func (w *worker) parser(f *logformat.Format) *logformat.Parser {
	p := w.parsers[f]
	if p == nil {
		p = f.NewParser()
		// The worker's AgentCache classifies and tokenises in one lookup.
		p.SetClassifyUA(false)
		w.parsers[f] = p
	}
	return p
}

// parseBatch is the host's whole per-line work: it parses each line with
// the first of formats that matches into w.arecs (returned; bad lines are
// left out and counted in res, with a few samples) and sets res.Lines.
// When a pipe takes the user agent's pieces (needUA) they are classified
// and tokenised through the worker's cache. Raw variables are recorded
// only when a pipe reads them (needVars): copying them costs about a tenth
// of a parse. first is the index of lines[0] in the caller's run, for
// error samples.
func (w *worker) parseBatch(formats []*logformat.Format, lines [][]byte, needUA, needVars bool, first int, res *Result) []pipeabi.Record {
	ps, perLine := w.ps[:0], false
	for _, f := range formats {
		p := w.parser(f)
		p.SetRecordVars(needVars)
		ps = append(ps, p)
		// A JSON line's unescaped strings live in its Record, which the
		// pipes' records alias until the batch is done; a text line's
		// values all alias the line, so one Record (hot in the cache, and
		// whose last $time_local is the line before's) serves every line.
		perLine = perLine || f.IsJSON()
	}
	w.ps = ps
	if perLine && len(w.lrecs) < len(lines) {
		w.lrecs = make([]logformat.Record, len(lines))
	}
	if cap(w.arecs) < len(lines) {
		w.arecs = make([]pipeabi.Record, 0, len(lines))
	}
	if needUA && w.agents == nil {
		w.agents = host.NewAgentCache(0)
	}
	arecs := w.arecs[:0]
	lr := &w.lr
	for i, line := range lines {
		if perLine {
			lr = &w.lrecs[i]
		}
		var err error
		for _, p := range ps {
			if err = p.Parse(line, lr); err == nil {
				break
			}
		}
		if err != nil {
			res.Bad++
			if len(res.Errors) < maxErrorSamples {
				res.Errors = append(res.Errors, fmt.Sprintf("line %d: %v", first+i+1, err))
			}
			continue
		}
		arecs = arecs[:len(arecs)+1] // reuse the record's slices
		ar := &arecs[len(arecs)-1]
		host.FromLog(ar, lr)
		if needUA {
			w.agents.Fill(ar)
		}
	}
	w.arecs = arecs
	res.Lines = len(lines)
	return arecs
}

// runBatch parses, runs every pipe of the current set and merges. first is
// the index of lines[0] in the caller's run, for error samples.
func (m *Manager) runBatch(ctx context.Context, formats []*logformat.Format, prefix []string, lines [][]byte, first int) Result {
	w := m.workers.Get().(*worker)
	defer m.workers.Put(w)
	set := m.acquire()
	defer set.inflight.Done()

	var res Result
	arecs := w.parseBatch(formats, lines, set.needUA, set.needVars, first, &res)
	m.lines.Add(uint64(len(lines)))
	if res.Bad > 0 {
		m.bad.Add(uint64(res.Bad))
		m.badSample.Store(res.Errors[0])
	}
	if len(arecs) == 0 || len(set.pipes) == 0 {
		res.Version = m.opt.Tree.Version()
		return res
	}
	if w.bufs == nil {
		w.bufs, w.done = map[string][]byte{}, map[string]bool{}
	}
	clear(w.done)
	w.cols.Reset(arecs)
	for _, l := range set.pipes {
		if l.p.Breaker.Quarantined() {
			m.observe(l.p, len(arecs), nil, host.ErrQuarantined)
			continue
		}
		// Pipes asking for the same fields share one encoding.
		buf := w.bufs[l.layout]
		if !w.done[l.layout] {
			buf = w.cols.AppendBatch(buf[:0], l.p.Layout)
			w.bufs[l.layout], w.done[l.layout] = buf, true
		}
		r, err := m.runPipe(ctx, w, l, buf, len(arecs), prefix)
		if err != nil {
			m.log.Printf("%v", err)
			continue
		}
		res.Numbers += r.Numbers
		res.Markers += r.Markers
		res.Version = max(res.Version, r.Version)
	}
	return res
}

func (m *Manager) observe(p *host.Pipe, n int, ds []pipeabi.Delta, err error) {
	if m.opt.Observe != nil {
		m.opt.Observe(p, n, ds, err)
	}
}

// runPipe runs one pipe on an encoded batch and merges its deltas.
func (m *Manager) runPipe(ctx context.Context, w *worker, l *loaded, batch []byte, n int, prefix []string) (tree.MergeResult, error) {
	r, err := m.callPipe(ctx, w, l, batch, n, prefix)
	m.observe(l.p, n, w.deltas, err)
	if errors.Is(err, host.ErrQuarantined) {
		return r, nil // not news: Status says so
	}
	return r, err
}

func (m *Manager) callPipe(ctx context.Context, w *worker, l *loaded, batch []byte, n int, prefix []string) (tree.MergeResult, error) {
	// A call past the time limit is retried once inside (host's
	// Pipe.Process): a stall of the machine must not drop the batch.
	var err error
	w.deltas, err = l.p.Process(ctx, batch, n, w.deltas[:0])
	if err != nil {
		return tree.MergeResult{}, err
	}
	if len(w.deltas) == 0 {
		return tree.MergeResult{}, nil
	}
	if len(prefix) > 0 {
		m.setPrefixActions(l, prefix)
	}
	w.tdeltas = w.toTree(w.tdeltas[:0], w.deltas, l.p.Manifest, prefix)
	return m.apply(ctx, l, w.tdeltas)
}

func (m *Manager) setPrefixActions(l *loaded, prefix []string) {
	key := strings.Join(prefix, "\x00")
	if _, done := l.prefixes.Load(key); done {
		return
	}
	for _, r := range l.p.Manifest.Roots {
		p := append(slices.Clip(prefix), r.Path...)
		if err := m.opt.Tree.SetAction(p, tree.Action(r.Action)); err != nil {
			m.log.Printf("pipe %s: cannot set defaultaction under %q: %v", l.p.Name(), prefix, err)
		}
	}
	if err := m.setUnits(l, prefix); err != nil {
		m.log.Printf("%v", err)
	}
	l.prefixes.Store(key, true)
}

// toTree converts validated ABI deltas to tree deltas under prefix. An
// average delta of k samples becomes one tree delta: their mean, weighted k.
func (w *worker) toTree(dst []tree.Delta, ds []pipeabi.Delta, man *pipeabi.Manifest, prefix []string) []tree.Delta {
	for i := range ds {
		d := &ds[i]
		path := d.Path
		if len(prefix) > 0 {
			path = append(append(make([]string, 0, len(prefix)+len(path)), prefix...), path...)
		}
		if d.IsMarker {
			dst = append(dst, tree.Delta{Path: path, Marker: d.Marker, IsMarker: true})
			continue
		}
		td := tree.Delta{Path: path, Value: d.Value}
		if ri := man.RootFor(d.Path); ri >= 0 && man.Roots[ri].Action == pipeabi.ActionAverage && d.Count > 1 {
			// d.Value sums d.Count samples: merge their mean, weighted.
			td.Value, td.Samples = d.Value/float64(d.Count), d.Count
		}
		dst = append(dst, td)
	}
	return dst
}

// Status is the pipes section of /status.
type Status struct {
	Dir string `json:"dir"`
	// Ready: the pipes present at start are loaded (or failed to); until
	// then lines wait.
	Ready     bool         `json:"ready"`
	Lines     uint64       `json:"lines"`
	BadLines  uint64       `json:"bad_lines"`
	LastBad   string       `json:"last_bad_line_error,omitempty"`
	MergeErrs uint64       `json:"merge_errors"`
	Pipes     []PipeStatus `json:"pipes"`
}

// PipeStatus is one file's state.
type PipeStatus struct {
	File string `json:"file"`
	// Origin is "builtin" (embedded in canopyd) or the file's path.
	Origin  string `json:"origin,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// State is loading, ready (running), failed (no version runs),
	// idle (see Idle) or disabled.
	State     string `json:"state"`
	Loaded    bool   `json:"loaded"`
	Disabled  bool   `json:"disabled,omitempty"`
	LoadError string `json:"load_error,omitempty"`
	// Idle is why a pipe declined to run as configured (geo: "no
	// database"); no failure, nothing is quarantined.
	Idle   string   `json:"idle,omitempty"`
	LoadMs float64  `json:"load_ms,omitempty"`
	Fields []string `json:"fields,omitempty"`
	// Keys is how many keys the pipe created while loaded; MaxKeys its cap.
	Keys    int64 `json:"keys"`
	MaxKeys int64 `json:"max_keys,omitempty"`
	host.PipeStats
}

// Status reports every file in the folder and every pipe loaded.
func (m *Manager) Status() Status {
	st := Status{Dir: m.opt.Dir, Ready: m.isReady(), Lines: m.lines.Load(), BadLines: m.bad.Load(), MergeErrs: m.applyErrs.Load()}
	if s, ok := m.badSample.Load().(string); ok {
		st.LastBad = s
	}
	m.filesMu.Lock()
	names := make([]string, 0, len(m.files))
	for n := range m.files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fs := m.files[n]
		ps := PipeStatus{File: n, Origin: fs.origin, Disabled: fs.disable, LoadMs: float64(fs.loadDur.Microseconds()) / 1000}
		if fs.l != nil {
			ps.Loaded = true
			ps.Name, ps.Version, ps.Fields = fs.l.p.Name(), fs.l.p.Manifest.Version, fs.l.p.Manifest.Fields
			ps.PipeStats = fs.l.p.Stats()
			ps.Keys, ps.MaxKeys = fs.l.maxKeys-fs.l.keysLeft.Load(), fs.l.maxKeys
		}
		var idle *host.IdleError
		if errors.As(fs.err, &idle) {
			ps.Idle = idle.Reason
		} else if fs.err != nil {
			ps.LoadError = fs.err.Error()
			if fs.l == nil {
				ps.Quarantined = true
				ps.QuarantineReason = "cannot load: " + fs.err.Error()
			}
		}
		ps.State = state(fs, &ps)
		st.Pipes = append(st.Pipes, ps)
	}
	m.filesMu.Unlock()
	return st
}

// Pipe states in PipeStatus.State.
const (
	StateLoading  = "loading"
	StateReady    = "ready"
	StateFailed   = "failed"
	StateIdle     = "idle"
	StateDisabled = "disabled"
)

func state(fs *fileState, ps *PipeStatus) string {
	switch {
	case fs.disable:
		return StateDisabled
	case fs.loading:
		return StateLoading
	case fs.l != nil:
		return StateReady
	case ps.Idle != "":
		return StateIdle
	default:
		return StateFailed
	}
}
