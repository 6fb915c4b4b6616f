// Package modules runs canopy-agent's collector modules: Ganglia's gmond
// module contract (metric_init, a value per metric, metric_cleanup)
// compiled to WebAssembly and run in sdk/host's sandbox. Modules in one
// .wasm file share one compiled module and one instance, which keeps the
// agent small (a Go guest costs ~15 MB compiled, ~1–3 MB per instance).
package modules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/canopy-dev/canopy/agent/pyconf"
	"github.com/canopy-dev/canopy/sdk/collectorabi"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// guestGOGC is the GOGC of the modules' Go runtime (see compile).
const guestGOGC = "10"

// Options configures a Runtime.
type Options struct {
	// Dir is the module folder; relative module paths are taken from it.
	Dir string
	// Builtins are module files that need no folder (the agent passes the
	// embedded ones): a relative path not found in Dir is looked up here.
	Builtins fs.FS
	// Engine holds the compilation cache shared by every module.
	Engine *host.Engine
	// MemoryBytes caps each module file's memory (default 64 MiB).
	MemoryBytes uint64
	// CallTimeout caps every call into a module, host calls included
	// (default 10 s).
	CallTimeout time.Duration
	// HTTPTimeout caps one http_get (default 5 s, never above CallTimeout).
	HTTPTimeout time.Duration
	// Client makes the http_get requests (a client without redirects and
	// keep-alives by default, so each check measures a fresh request).
	Client *http.Client
	// Stderr receives the modules' stderr (discarded when nil).
	Stderr io.Writer
	// Logf logs failures (log.Printf style); nil is silent.
	Logf func(format string, args ...any)
	// Loaded, when set, runs after every Load.
	Loaded func()
}

// Runtime loads and runs modules.
type Runtime struct {
	opt Options
}

// New returns a runtime.
func New(opt Options) *Runtime {
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = 10 * time.Second
	}
	if opt.HTTPTimeout <= 0 {
		opt.HTTPTimeout = 5 * time.Second
	}
	if opt.HTTPTimeout > opt.CallTimeout {
		opt.HTTPTimeout = opt.CallTimeout
	}
	if opt.Client == nil {
		opt.Client = &http.Client{
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	return &Runtime{opt: opt}
}

// Module is one configured module: its config, its metric descriptors from
// metric_init, and the file it runs in.
type Module struct {
	Conf    pyconf.Module
	Metrics []collectorabi.Descriptor
	// Err is why the module is not running (load, init or quarantine).
	Err error

	file  *file
	tails map[string]*tailer
}

// Name returns the module's configured name.
func (m *Module) Name() string { return m.Conf.Name }

// file is one .wasm with its single instance, shared by its modules.
type file struct {
	rt      *Runtime
	path    string
	hm      *host.Module
	inst    *host.Instance
	mods    []*Module
	breaker host.Breaker

	mu      sync.Mutex
	cur     *Module // the module whose call is in flight (grant checks)
	result  []byte  // the last host-call result, for result_read
	bufPtr  uint32
	bufSize uint32
}

// BuiltinPrefix starts the file name of a module file embedded in the
// agent (Status.File "builtin:builtin.wasm").
const BuiltinPrefix = "builtin:"

// FilePath returns the file a module path names on disk (an absolute
// path, else a file in Dir), whether or not it exists.
func (r *Runtime) FilePath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(r.opt.Dir, p)
}

// Resolve returns the file a module path names: an absolute path, a file
// in Dir, else a built-in of that name (BuiltinPrefix + name).
func (r *Runtime) Resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	inDir := r.FilePath(p)
	if r.opt.Builtins != nil {
		if _, err := os.Stat(inDir); err != nil && fs.ValidPath(p) {
			if _, err := fs.Stat(r.opt.Builtins, p); err == nil {
				return BuiltinPrefix + p
			}
		}
	}
	return inDir
}

// Load loads confs: every distinct .wasm is compiled once and instantiated
// once, then metric_init runs for each of its modules. A module that fails
// has Err set; the others run.
func (r *Runtime) Load(ctx context.Context, confs []pyconf.Module) []*Module {
	byPath := map[string][]*Module{}
	var order []string
	var out []*Module
	for _, c := range confs {
		m := &Module{Conf: c, tails: map[string]*tailer{}}
		out = append(out, m)
		p := r.Resolve(c.Path)
		if _, ok := byPath[p]; !ok {
			order = append(order, p)
		}
		byPath[p] = append(byPath[p], m)
	}
	for _, p := range order {
		f := &file{rt: r, path: p, mods: byPath[p]}
		for _, m := range f.mods {
			m.file = f
		}
		if err := f.compile(ctx); err != nil {
			for _, m := range f.mods {
				m.Err = err
			}
			r.opt.Logf("module file %s: %v", p, err)
			continue
		}
		f.mu.Lock()
		err := f.instantiate(ctx)
		f.mu.Unlock()
		if err != nil {
			r.opt.Logf("module file %s: %v", p, err)
		}
	}
	if r.opt.Loaded != nil {
		r.opt.Loaded()
	}
	return out
}

// compile compiles the file with the union of its modules' read grants:
// modules sharing a file share its instance and so its mounts; HTTP and
// tail grants stay per module (checked on every host call).
func (f *file) compile(ctx context.Context) error {
	var wasm []byte
	var err error
	if name, ok := strings.CutPrefix(f.path, BuiltinPrefix); ok {
		wasm, err = fs.ReadFile(f.rt.opt.Builtins, name)
	} else {
		wasm, err = os.ReadFile(f.path)
	}
	if err != nil {
		return fmt.Errorf("cannot read module file: %w", err)
	}
	seen := map[string]bool{}
	var g host.Grants
	for _, m := range f.mods {
		for _, d := range m.Conf.Grants.Read {
			if !seen[d] {
				seen[d] = true
				g.Mounts = append(g.Mounts, host.Mount{HostDir: d, GuestPath: d})
			}
		}
	}
	sort.Slice(g.Mounts, func(i, j int) bool { return g.Mounts[i].HostDir < g.Mounts[j].HostDir })
	g.Stderr = f.rt.opt.Stderr
	// A Go guest's runtime starts collecting only once its heap reaches
	// 4 MiB (at GOGC=100), and wasm memory never shrinks: at GOGC=10 it
	// collects from 0.4 MiB on, so an instance touches ~1 MiB less of its
	// linear memory. Collectors allocate little; the extra GC work is
	// negligible. Other guests ignore the variable.
	g.Env = map[string]string{"GOGC": guestGOGC}
	g.HostModules = f.hostModule
	hm, err := f.rt.opt.Engine.Compile(ctx, filepath.Base(f.path), wasm,
		host.Limits{MemoryBytes: f.rt.opt.MemoryBytes, CallTimeout: f.rt.opt.CallTimeout}, g)
	if err != nil {
		return err
	}
	for _, fn := range []string{wire.ExportAPIVersion, wire.ExportAlloc, collectorabi.ExportCollectorModules, collectorabi.ExportMetricInit, collectorabi.ExportMetricValues} {
		if !hm.Exports(fn) {
			hm.Close(ctx)
			return fmt.Errorf("not a collector module: it does not export %s", fn)
		}
	}
	f.hm = hm
	return nil
}

// instantiate makes a fresh instance and runs metric_init for every module
// of the file. Called with f.mu held.
func (f *file) instantiate(ctx context.Context) error {
	if f.breaker.Quarantined() {
		return f.quarantineErr()
	}
	in, err := f.hm.Instantiate(ctx)
	if err != nil {
		return f.fail(err)
	}
	f.inst, f.bufPtr, f.bufSize = in, 0, 0
	v, err := in.Call(ctx, in.Func(wire.ExportAPIVersion))
	if err != nil {
		return f.fail(err)
	}
	if int32(v) != collectorabi.Version {
		err := fmt.Errorf("module speaks ABI %d, the agent %d", int32(v), collectorabi.Version)
		f.breaker.Quarantine(err.Error())
		f.setErr(err)
		return err
	}
	names, err := f.call(ctx, collectorabi.ExportCollectorModules, nil)
	if err != nil {
		return f.fail(err)
	}
	have := map[string]bool{}
	d := wire.Decoder{B: names}
	n := d.Count(4)
	for i := 0; i < n && d.Err == nil; i++ {
		have[d.String()] = true
	}
	for _, m := range f.mods {
		m.Err = nil
		if !have[m.Conf.Name] {
			m.Err = fmt.Errorf("%s holds no module %q", filepath.Base(f.path), m.Conf.Name)
			continue
		}
		keys := make([]string, 0, len(m.Conf.Params))
		for k := range m.Conf.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = m.Conf.Params[k]
		}
		f.cur = m
		res, err := f.call(ctx, collectorabi.ExportMetricInit, collectorabi.AppendModuleRequest(nil, m.Conf.Name, keys, vals))
		f.cur = nil
		if err != nil {
			if f.inst.Dead() != nil {
				return f.fail(err)
			}
			m.Err = err // metric_init said no: this module only
			continue
		}
		ds, err := collectorabi.DecodeDescriptors(res)
		if err != nil {
			return f.fail(fmt.Errorf("metric_init of %s: %w", m.Conf.Name, err))
		}
		m.Metrics = ds
	}
	return nil
}

func (f *file) quarantineErr() error {
	return fmt.Errorf("quarantined: %s", f.breaker.Status().QuarantineReason)
}

func (f *file) setErr(err error) {
	for _, m := range f.mods {
		m.Err = err
	}
}

// fail throws the instance away and counts a failure.
func (f *file) fail(err error) error {
	if f.inst != nil {
		f.inst.Close(context.Background())
		f.inst = nil
	}
	if f.breaker.Fail(err) {
		err = fmt.Errorf("%w (quarantined: %s)", err, f.breaker.Status().QuarantineReason)
	}
	f.setErr(err)
	f.rt.opt.Logf("module file %s failed: %v", filepath.Base(f.path), err)
	return err
}

// call writes in into the guest and calls fn(ptr, len), or fn() when in is
// nil, returning the result payload (after the status byte), copied. An
// error result is returned as an error without killing the instance.
func (f *file) call(ctx context.Context, fn string, in []byte) ([]byte, error) {
	inst := f.inst
	var packed uint64
	var err error
	if in == nil {
		packed, err = inst.Call(ctx, inst.Func(fn))
	} else {
		if uint32(len(in)) > f.bufSize || f.bufPtr == 0 {
			p, err := inst.Call(ctx, inst.Func(wire.ExportAlloc), uint64(len(in)))
			if err != nil {
				return nil, err
			}
			if uint32(p) == 0 {
				return nil, inst.Fail(errors.New("canopy_alloc returned 0"))
			}
			f.bufPtr, f.bufSize = uint32(p), uint32(len(in))
		}
		if err := inst.Write(f.bufPtr, in); err != nil {
			return nil, err
		}
		packed, err = inst.Call(ctx, inst.Func(fn), uint64(f.bufPtr), uint64(len(in)))
	}
	if err != nil {
		return nil, err
	}
	b, err := inst.ReadPacked(packed)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, inst.Fail(fmt.Errorf("%s returned an empty result", fn))
	}
	switch b[0] {
	case wire.StatusOK:
		return append([]byte(nil), b[1:]...), nil
	case wire.StatusError:
		d := wire.Decoder{B: b[1:]}
		msg := d.String()
		if d.Err != nil {
			return nil, inst.Fail(fmt.Errorf("%s returned a malformed error", fn))
		}
		return nil, errors.New(strings.Clone(msg))
	default:
		return nil, inst.Fail(fmt.Errorf("%s returned status %d", fn, b[0]))
	}
}

// Values asks the module for the metrics at idx (indexes into Metrics).
// A dead instance is replaced first (metric_init runs again for every
// module of the file); a quarantined file answers with an error.
func (m *Module) Values(ctx context.Context, idx []uint32) (*collectorabi.Values, error) {
	f := m.file
	if f == nil || f.hm == nil {
		return nil, m.Err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inst == nil || f.inst.Dead() != nil {
		if f.inst != nil {
			f.fail(f.inst.Dead())
		}
		if err := f.instantiate(ctx); err != nil {
			return nil, err
		}
	}
	if m.Err != nil {
		return nil, m.Err
	}
	f.cur = m
	res, err := f.call(ctx, collectorabi.ExportMetricValues, collectorabi.AppendValuesRequest(nil, m.Conf.Name, idx))
	f.cur = nil
	if err != nil {
		if f.inst.Dead() != nil {
			return nil, f.fail(err)
		}
		return nil, err
	}
	v, err := collectorabi.DecodeValues(res, len(idx))
	if err != nil {
		f.inst.Fail(err)
		return nil, f.fail(fmt.Errorf("metric_values of %s: %w", m.Conf.Name, err))
	}
	return v, nil
}

// Close runs metric_cleanup for every module (best effort) and frees
// their files.
func Close(ctx context.Context, mods []*Module) {
	files := map[*file]bool{}
	for _, m := range mods {
		for _, t := range m.tails {
			t.close()
		}
		f := m.file
		if f == nil {
			continue
		}
		files[f] = true
		f.mu.Lock()
		if f.inst != nil && f.inst.Dead() == nil && m.Err == nil && f.hm.Exports(collectorabi.ExportMetricCleanup) {
			f.cur = m
			f.call(ctx, collectorabi.ExportMetricCleanup, collectorabi.AppendModuleRequest(nil, m.Conf.Name, nil, nil))
			f.cur = nil
		}
		f.mu.Unlock()
	}
	for f := range files {
		f.mu.Lock()
		if f.inst != nil {
			f.inst.Close(ctx)
			f.inst = nil
		}
		if f.hm != nil {
			f.hm.Close(ctx)
		}
		f.mu.Unlock()
	}
}

// Status is a module's state for logs and tests.
type Status struct {
	Name    string             `json:"name"`
	File    string             `json:"file"`
	Metrics int                `json:"metrics"`
	Error   string             `json:"error,omitempty"`
	Breaker host.BreakerStatus `json:"breaker"`
	// MemoryBytes is the linear memory of the file's instance (0 if none).
	MemoryBytes uint32 `json:"memory_bytes"`
}

// Status returns the module's state.
func (m *Module) Status() Status {
	s := Status{Name: m.Conf.Name, Metrics: len(m.Metrics)}
	if f := m.file; f != nil {
		s.File = f.path
		s.Breaker = f.breaker.Status()
		f.mu.Lock()
		if f.inst != nil && f.inst.Dead() == nil {
			s.MemoryBytes = f.inst.MemoryBytes()
		}
		f.mu.Unlock()
	}
	if m.Err != nil {
		s.Error = m.Err.Error()
	}
	return s
}

// hostModule registers the canopy_collector imports in the file's runtime.
func (f *file) hostModule(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(collectorabi.CollectorHostModule).
		NewFunctionBuilder().WithFunc(f.httpGet).Export(collectorabi.ImportHTTPGet).
		NewFunctionBuilder().WithFunc(f.tailRead).Export(collectorabi.ImportTailRead).
		NewFunctionBuilder().WithFunc(f.statfs).Export(collectorabi.ImportStatfs).
		NewFunctionBuilder().WithFunc(f.resultRead).Export(collectorabi.ImportResultRead).
		Instantiate(ctx)
	return err
}

// The host calls run inside a call into the guest, with f.mu held by the
// caller of that call, so they touch f.cur and f.result without locking.

func (f *file) httpGet(ctx context.Context, mod api.Module, urlPtr, urlLen, timeoutMs uint32) int32 {
	var r collectorabi.HTTPResponse
	b, ok := mod.Memory().Read(urlPtr, urlLen)
	switch {
	case !ok:
		r.Err = "URL lies outside module memory"
	case f.cur == nil || !grantedURL(f.cur.Conf.Grants.HTTPGet, string(b)):
		r.Err = fmt.Sprintf("http_get %q: %v", string(b), collectorabi.ErrNotGranted)
	default:
		to := time.Duration(timeoutMs) * time.Millisecond
		if to <= 0 || to > f.rt.opt.HTTPTimeout {
			to = f.rt.opt.HTTPTimeout
		}
		r = fetch(ctx, f.rt.opt.Client, string(b), to)
	}
	f.result = collectorabi.AppendHTTPResponse(f.result[:0], &r)
	return int32(len(f.result))
}

func grantedURL(grants []string, u string) bool {
	for _, g := range grants {
		if g == u || strings.HasSuffix(g, "*") && strings.HasPrefix(u, strings.TrimSuffix(g, "*")) {
			return true
		}
	}
	return false
}

func (f *file) tailRead(ctx context.Context, mod api.Module, pathPtr, pathLen, max uint32) int32 {
	b, ok := mod.Memory().Read(pathPtr, pathLen)
	fail := func(msg string) int32 {
		f.result = append(append(f.result[:0], wire.StatusError), msg...)
		return int32(len(f.result))
	}
	if !ok {
		return fail("path lies outside module memory")
	}
	p := string(b)
	if f.cur == nil || !contains(f.cur.Conf.Grants.Tail, p) {
		return fail(fmt.Sprintf("tail_read %q: %v", p, collectorabi.ErrNotGranted))
	}
	t := f.cur.tails[p]
	if t == nil {
		t = &tailer{path: p}
		f.cur.tails[p] = t
	}
	if max <= 0 || max > 8<<20 {
		max = 8 << 20
	}
	lines, err := t.read(int(max), append(f.result[:0], wire.StatusOK))
	if err != nil {
		return fail(err.Error())
	}
	f.result = lines
	return int32(len(f.result))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *file) resultRead(ctx context.Context, mod api.Module, ptr, n uint32) int32 {
	if int(n) > len(f.result) {
		n = uint32(len(f.result))
	}
	if !mod.Memory().Write(ptr, f.result[:n]) {
		return -1
	}
	return int32(n)
}

func (f *file) statfs(ctx context.Context, mod api.Module, pathPtr, pathLen uint32) int32 {
	b, ok := mod.Memory().Read(pathPtr, pathLen)
	fail := func(msg string) int32 {
		f.result = append(append(f.result[:0], wire.StatusError), msg...)
		return int32(len(f.result))
	}
	if !ok {
		return fail("path lies outside module memory")
	}
	p := string(b)
	if f.cur == nil || !contains(f.cur.Conf.Grants.Statfs, p) {
		return fail(fmt.Sprintf("statfs %q: %v", p, collectorabi.ErrNotGranted))
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		return fail(fmt.Sprintf("statfs %q: %v", p, err))
	}
	bs := uint64(st.Bsize)
	r := append(f.result[:0], wire.StatusOK)
	r = wire.AppendI64(r, int64(st.Blocks*bs))
	r = wire.AppendI64(r, int64(st.Bfree*bs))
	r = wire.AppendI64(r, int64(st.Bavail*bs))
	r = wire.AppendI64(r, int64(st.Files))
	r = wire.AppendI64(r, int64(st.Ffree))
	f.result = r
	return int32(len(r))
}
