// Package host runs sandboxed WebAssembly guests with wazero: canopy's log
// pipes (Pipe, PipeInstance) and, through the generic Module and Instance,
// the agent's collector modules.
//
// A Module is compiled once (with an optional on-disk compilation cache)
// and instantiated once per worker: instances are not goroutine-safe. Every
// instance lives under caps — a memory limit, a time limit per call (the
// call's context is cancelled and wazero closes the instance), no
// filesystem unless a directory is granted, no network (WASI preview 1 has
// no sockets) — and a failed instance is thrown away, never reused. A
// Breaker counts failures and quarantines a guest that keeps failing.
package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Defaults of Limits.
const (
	DefaultMemoryBytes  = 64 << 20
	DefaultCallTimeout  = time.Second
	DefaultResultBytes  = 16 << 20
	wasmPageBytes       = 64 << 10
	defaultCleanupLimit = 100 * time.Millisecond
)

// Limits are the caps of one guest. Zero values mean the defaults.
type Limits struct {
	// MemoryBytes caps the guest's linear memory (default 64 MiB).
	MemoryBytes uint64
	// CallTimeout caps every call into the guest (default 1 s).
	CallTimeout time.Duration
	// ResultBytes caps a result buffer handed back (default 16 MiB).
	ResultBytes uint32
}

func (l Limits) withDefaults() Limits {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = DefaultMemoryBytes
	}
	if l.CallTimeout <= 0 {
		l.CallTimeout = DefaultCallTimeout
	}
	if l.ResultBytes == 0 {
		l.ResultBytes = DefaultResultBytes
	}
	return l
}

// Mount grants the guest a host directory.
type Mount struct {
	HostDir   string
	GuestPath string
	Writable  bool
}

// Grants are what a guest may touch beyond its memory. The zero value
// grants nothing: no files, no environment, stdout/stderr discarded.
type Grants struct {
	Mounts []Mount
	// Files grants single files read-only (a pipe's database), without
	// the rest of their directory.
	Files []FileGrant
	Env   map[string]string
	// Stdout and Stderr receive the guest's output (nil discards it).
	Stdout, Stderr io.Writer
	// HostModules, when set, instantiates host-function modules (the
	// agent's canopy_collector imports: http_get, tail_read) in the guest's
	// runtime before it is compiled. Added for canopy-agent (issue 10).
	HostModules func(ctx context.Context, rt wazero.Runtime) error
}

// Engine holds what guests share: the compilation cache and, on disk, the
// rewrite cache (rewritecache.go). It is safe for concurrent use.
type Engine struct {
	cache      wazero.CompilationCache
	rewrites   rewriteCache
	lazyMemory bool
	dropCode   bool
}

// EngineOptions configure NewEngineWith.
type EngineOptions struct {
	// CacheDir keeps compiled code on disk ("" keeps it in memory only).
	CacheDir string
	// LazyMemory backs each guest's linear memory with its own mapping
	// outside the Go heap (see lazyMemory): only touched pages are
	// resident. The memory is unmapped when the instance closes, so no
	// view from Instance.Read may be used after Close, and Close must not
	// race a call. Added for canopy-agent (issue 10).
	LazyMemory bool
	// DropCode frees each module's WebAssembly function bodies once they
	// are compiled to machine code (≈2 MB of Go heap for a Go guest; see
	// dropCodeBodies). Added for canopy-agent (issue 10).
	DropCode bool
}

// NewEngine returns an engine whose compiled code is cached in cacheDir
// (created if missing), or only in memory when cacheDir is "". With the
// disk cache a restart compiles a module in ≈60 ms instead of ≈0.55 s.
func NewEngine(cacheDir string) (*Engine, error) {
	return NewEngineWith(EngineOptions{CacheDir: cacheDir})
}

// NewEngineWith returns an engine configured by opt.
func NewEngineWith(opt EngineOptions) (*Engine, error) {
	if opt.CacheDir == "" {
		return &Engine{cache: wazero.NewCompilationCache(), lazyMemory: opt.LazyMemory, dropCode: opt.DropCode}, nil
	}
	if err := os.MkdirAll(opt.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create WASM compilation cache %q: %w", opt.CacheDir, err)
	}
	c, err := wazero.NewCompilationCacheWithDir(opt.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("cannot open WASM compilation cache %q: %w", opt.CacheDir, err)
	}
	return &Engine{cache: c, rewrites: rewriteCache{dir: filepath.Join(opt.CacheDir, rewriteDir)},
		lazyMemory: opt.LazyMemory, dropCode: opt.DropCode}, nil
}

// Close releases the cache.
func (e *Engine) Close() error { return e.cache.Close(context.Background()) }

// Module is one compiled guest with its caps. Each Module owns a wazero
// runtime, because the memory limit is a runtime setting; compiled code is
// shared through the engine's cache. Safe for concurrent use.
type Module struct {
	name   string
	limits Limits
	grants Grants
	rt     wazero.Runtime
	cm     wazero.CompiledModule
	start  []string

	lazyMemory bool

	mu     sync.Mutex
	seq    uint64
	closed bool
}

// Compile compiles wasm (named name in errors) under limits and grants.
func (e *Engine) Compile(ctx context.Context, name string, wasm []byte, limits Limits, grants Grants) (*Module, error) {
	limits = limits.withDefaults()
	pages := uint32(min(limits.MemoryBytes/wasmPageBytes, 65536))
	// Not WithCloseOnContextDone: see interrupt.go for why and what instead.
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(e.cache).
		WithMemoryLimitPages(pages)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("cannot set up WASI for %s: %w", name, err)
	}
	if grants.HostModules != nil {
		if err := grants.HostModules(ctx, rt); err != nil {
			rt.Close(ctx)
			return nil, fmt.Errorf("cannot set up host functions for %s: %w", name, err)
		}
	}
	inst, err := e.rewrites.rewrite(wasm)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("cannot compile %s: %w", name, err)
	}
	cm, err := rt.CompileModule(ctx, inst)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("cannot compile %s: %w", name, err)
	}
	if e.dropCode {
		dropCodeBodies(cm)
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		rt.Close(ctx)
		return nil, fmt.Errorf("cannot load %s: it exports no memory named \"memory\"", name)
	}
	m := &Module{name: name, limits: limits, grants: grants, rt: rt, cm: cm, lazyMemory: e.lazyMemory}
	if _, ok := cm.ExportedFunctions()["_initialize"]; ok {
		m.start = []string{"_initialize"}
	}
	return m, nil
}

// Name returns the module's name.
func (m *Module) Name() string { return m.name }

// Limits returns the module's caps.
func (m *Module) Limits() Limits { return m.limits }

// Exports reports whether the module exports function fn.
func (m *Module) Exports(fn string) bool {
	_, ok := m.cm.ExportedFunctions()[fn]
	return ok
}

// Close closes every instance and the module.
func (m *Module) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return m.rt.Close(ctx)
}

// Instantiate makes a fresh instance, running the reactor initialiser
// (_initialize) under the call timeout. A WASI command's _start is never
// run.
func (m *Module) Instantiate(ctx context.Context) (*Instance, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("module %s is closed", m.name)
	}
	m.seq++
	seq := m.seq
	m.mu.Unlock()
	// The reactor initialiser runs below as a normal call, under the
	// interrupt watchdog, rather than as a start function.
	mc := wazero.NewModuleConfig().
		WithName(fmt.Sprintf("%s#%d", m.name, seq)).
		WithStartFunctions().
		WithSysWalltime().WithSysNanotime().
		WithRandSource(rand.Reader)
	if m.grants.Stdout != nil {
		mc = mc.WithStdout(m.grants.Stdout)
	}
	// The tail of stderr explains most deaths ("fatal error: out of
	// memory", a panic message), so it is kept for the error.
	tail := &tailWriter{w: m.grants.Stderr}
	mc = mc.WithStderr(tail)
	for k, v := range m.grants.Env {
		mc = mc.WithEnv(k, v)
	}
	if len(m.grants.Mounts) > 0 || len(m.grants.Files) > 0 {
		fc := wazero.NewFSConfig()
		for _, mt := range m.grants.Mounts {
			if mt.Writable {
				fc = fc.WithDirMount(mt.HostDir, mt.GuestPath)
			} else {
				fc = fc.WithReadOnlyDirMount(mt.HostDir, mt.GuestPath)
			}
		}
		fm := fileMounts(m.grants.Files)
		for _, dir := range slices.Sorted(maps.Keys(fm)) {
			fc = fc.WithFSMount(fm[dir], dir)
		}
		mc = mc.WithFSConfig(fc)
	}
	ictx := ctx
	if m.lazyMemory {
		ictx = experimental.WithMemoryAllocator(ctx, lazyAllocator())
	}
	mod, err := m.rt.InstantiateModule(ictx, m.cm, mc)
	if err != nil {
		return nil, fmt.Errorf("cannot instantiate %s: %w%s", m.name, err, tail.said())
	}
	intr, ok := mod.ExportedGlobal(interruptGlobal).(api.MutableGlobal)
	if !ok {
		mod.Close(ctx)
		return nil, fmt.Errorf("cannot instantiate %s: interrupt global missing", m.name)
	}
	in := &Instance{m: m, mod: mod, mem: mod.Memory(), stack: make([]uint64, 4), stderr: tail, intr: intr}
	for _, fn := range m.start {
		if _, err := in.Call(ctx, in.Func(fn)); err != nil {
			mod.Close(ctx)
			return nil, fmt.Errorf("cannot instantiate %s: %w", m.name, err)
		}
	}
	return in, nil
}

// Instance is one live guest. Not safe for concurrent use. After any
// failed call the instance is dead: Close it and make a new one.
type Instance struct {
	m      *Module
	mod    api.Module
	mem    api.Memory
	stack  []uint64
	fns    map[string]api.Function
	dead   error
	stderr *tailWriter
	intr   api.MutableGlobal
	fired  atomic.Bool
}

// errDead is wrapped by every call on an instance that already failed.
var errDead = errors.New("instance already failed")

// ErrTimeLimit is wrapped by the error of a call that passed its time
// limit (Limits.CallTimeout), and of later calls on its instance: the
// guest was stopped, not failed on its own, and a stalled machine looks
// the same as a slow pipe (Pipe.Process retries such a batch once).
var ErrTimeLimit = errors.New("exceeded the call time limit")

type limitFactorKey struct{}

// withLimitFactor makes the calls under ctx run with f times their
// module's time limit (a retry's longer limit).
func withLimitFactor(ctx context.Context, f int) context.Context {
	return context.WithValue(ctx, limitFactorKey{}, f)
}

// callLimit is the time limit of a call under ctx on a module limited to d.
func callLimit(ctx context.Context, d time.Duration) time.Duration {
	if f, ok := ctx.Value(limitFactorKey{}).(int); ok && f > 1 {
		return d * time.Duration(f)
	}
	return d
}

// Func returns exported function name, or nil.
func (in *Instance) Func(name string) api.Function {
	if f, ok := in.fns[name]; ok {
		return f
	}
	if in.fns == nil {
		in.fns = map[string]api.Function{}
	}
	f := in.mod.ExportedFunction(name)
	in.fns[name] = f
	return f
}

// Call calls fn with params under the call timeout and returns its first
// result (0 if it has none). Any error — a trap, the timeout, running out
// of memory, a guest exit — kills the instance.
func (in *Instance) Call(ctx context.Context, fn api.Function, params ...uint64) (uint64, error) {
	if in.dead != nil {
		return 0, fmt.Errorf("%w: %w", errDead, in.dead)
	}
	if fn == nil {
		return 0, in.kill(errors.New("function not exported"))
	}
	in.stack = append(in.stack[:0], params...)
	if n := len(fn.Definition().ResultTypes()); len(in.stack) < n {
		in.stack = in.stack[:n]
	}
	// The watchdog: past the time cap, set the interrupt global; the guest
	// traps at its next loop iteration.
	limit := callLimit(ctx, in.m.limits.CallTimeout)
	t := time.AfterFunc(limit, in.interrupt)
	err := fn.CallWithStack(ctx, in.stack)
	timedOut := !t.Stop()
	if err != nil {
		if msg, _, cut := strings.Cut(err.Error(), "\n"); cut { // drop wazero's wasm stack trace
			err = errors.New(strings.TrimSpace(msg))
		}
	}
	if timedOut {
		// The watchdog fired (or is firing): the instance must not run
		// again, whether or not the call got out in time.
		if err == nil {
			in.kill(fmt.Errorf("%w (%v)", ErrTimeLimit, limit))
		} else {
			err = fmt.Errorf("%w (%v): %w", ErrTimeLimit, limit, err)
		}
	}
	if err != nil {
		return 0, in.kill(fmt.Errorf("%s: %w%s", funcName(fn), err, in.stderr.said()))
	}
	if len(fn.Definition().ResultTypes()) == 0 {
		return 0, nil
	}
	return in.stack[0], nil
}

// interrupt makes the running call trap at its next loop iteration.
func (in *Instance) interrupt() {
	in.fired.Store(true)
	in.intr.Set(1)
}

func funcName(fn api.Function) string {
	if names := fn.Definition().ExportNames(); len(names) > 0 {
		return names[0]
	}
	return fn.Definition().Name()
}

func (in *Instance) kill(err error) error {
	if in.dead == nil {
		in.dead = err
	}
	return err
}

// Fail marks the instance dead because of err (e.g. malformed output).
func (in *Instance) Fail(err error) error { return in.kill(err) }

// Dead returns why the instance failed, or nil.
func (in *Instance) Dead() error { return in.dead }

// Read returns a view of len bytes of guest memory at ptr, checked against
// the result cap. The view is valid only until the next call into the
// guest (memory may grow and move): copy what you keep.
func (in *Instance) Read(ptr, n uint32) ([]byte, error) {
	if n > in.m.limits.ResultBytes {
		return nil, in.kill(fmt.Errorf("result of %d bytes exceeds the %d-byte cap", n, in.m.limits.ResultBytes))
	}
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		return nil, in.kill(fmt.Errorf("result [%d, +%d) lies outside guest memory (%d bytes)", ptr, n, in.mem.Size()))
	}
	return b, nil
}

// ReadPacked reads a result returned as ptr<<32 | len.
func (in *Instance) ReadPacked(packed uint64) ([]byte, error) {
	return in.Read(uint32(packed>>32), uint32(packed))
}

// Write copies b into guest memory at ptr.
func (in *Instance) Write(ptr uint32, b []byte) error {
	if !in.mem.Write(ptr, b) {
		return in.kill(fmt.Errorf("input [%d, +%d) lies outside guest memory", ptr, len(b)))
	}
	return nil
}

// MemoryBytes returns the current size of the guest's linear memory.
func (in *Instance) MemoryBytes() uint32 { return in.mem.Size() }

// Close frees the instance.
func (in *Instance) Close(ctx context.Context) error { return in.mod.Close(ctx) }

// tailWriter remembers what a guest wrote to stderr (passing it on to w
// when set): the first line that looks like a Go fatal error or panic, and
// the last bytes.
type tailWriter struct {
	w     io.Writer
	buf   []byte
	fatal string
}

const tailBytes = 512

func (t *tailWriter) Write(p []byte) (int, error) {
	if t.w != nil {
		t.w.Write(p)
	}
	t.buf = append(t.buf, p...)
	if complete := strings.LastIndexByte(string(t.buf), '\n'); t.fatal == "" && complete > 0 {
		for _, l := range strings.Split(string(t.buf[:complete]), "\n") {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "runtime: out of memory") {
				t.fatal = l
				break
			}
		}
	}
	if len(t.buf) > tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

// said returns "; guest stderr: LINE" with the fatal line, else the last
// line written, else "".
func (t *tailWriter) said() string {
	pick := t.fatal
	if pick == "" {
		lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
		pick = strings.TrimSpace(lines[len(lines)-1])
	}
	if pick == "" {
		return ""
	}
	if len(pick) > 200 {
		pick = pick[:200] + "…"
	}
	return "; guest stderr: " + pick
}
