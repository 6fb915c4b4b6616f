package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// PipeOptions configures a loaded pipe.
type PipeOptions struct {
	Limits Limits
	Grants Grants
	// Params are passed to canopy_init (the pipe's `params:`).
	Params map[string]string
	// Breaker settings (defaults: 5 failures within a minute).
	MaxFailures   int
	FailureWindow time.Duration
}

// Pipe is a loaded pipe: its manifest, its config and a pool of idle
// instances. Safe for concurrent use: each caller takes an instance
// (Get), uses it alone, and gives it back (Put), so there are as many
// instances as concurrent workers.
type Pipe struct {
	// Source names where the pipe came from (a file path) in errors.
	Source   string
	Manifest *pipeabi.Manifest
	Layout   *pipeabi.Layout
	Breaker  *Breaker
	// OnRetry, when set before the pipe is used, sees why Process runs a
	// batch again (the call's time-limit error), for the log.
	OnRetry func(err error)

	newGuest func(context.Context) (Guest, error)
	config   []byte
	onClose  func(context.Context) error

	mu     sync.Mutex
	idle   []*PipeInstance
	closed bool
	// A serial pipe (Manifest.Serial) has at most one instance: live counts
	// it (alive or being made) and Get waits on turn while it is busy.
	live int
	turn *sync.Cond

	calls, records, nanos atomic.Uint64
	instances             atomic.Int64
	memBytes              atomic.Uint32
	// retried counts batches Process ran again after a call passed the
	// time limit; lastRetry (a string) is that call's error.
	retried   atomic.Uint64
	lastRetry atomic.Value
}

// RetryLimitFactor is how many times its call time limit a batch gets
// when Process retries it after a call passed the limit: a call that
// needs a little more than the limit on a loaded machine gets through,
// and a pipe that never returns costs (1 + RetryLimitFactor) limits a
// batch until the breaker quarantines it.
const RetryLimitFactor = 2

// PipeInstance is one initialised guest of a Pipe.
type PipeInstance struct {
	p *Pipe
	g Guest
}

// LoadPipe compiles a WASM pipe, checks its ABI version and manifest and
// initialises a first instance (kept for the first Get). source names the
// pipe in errors.
func (e *Engine) LoadPipe(ctx context.Context, source string, wasm []byte, opt PipeOptions) (*Pipe, error) {
	mod, err := e.Compile(ctx, source, wasm, opt.Limits, opt.Grants)
	if err != nil {
		return nil, err
	}
	p, err := NewPipe(ctx, source, func(ctx context.Context) (Guest, error) { return newWASMGuest(ctx, mod) }, opt)
	if err != nil {
		mod.Close(ctx)
		return nil, err
	}
	p.onClose = mod.Close
	return p, nil
}

// NewPipe makes a pipe from a guest factory (WASM, in-process Go, or a
// child process): it checks the first guest's ABI version and manifest and
// initialises it.
func NewPipe(ctx context.Context, source string, newGuest func(context.Context) (Guest, error), opt PipeOptions) (*Pipe, error) {
	p := &Pipe{Source: source, newGuest: newGuest,
		Breaker: &Breaker{Max: opt.MaxFailures, Window: opt.FailureWindow}}
	p.turn = sync.NewCond(&p.mu)
	p.config = EncodeParams(opt.Params)
	g, err := newGuest(ctx)
	if err != nil {
		return nil, err
	}
	v, err := g.APIVersion(ctx)
	if err != nil {
		g.Close(ctx)
		return nil, fmt.Errorf("pipe %s: %w", source, err)
	}
	if v != pipeabi.Version {
		g.Close(ctx)
		return nil, fmt.Errorf("pipe %s speaks ABI version %d; this canopy speaks %d", source, v, pipeabi.Version)
	}
	res, err := g.Manifest(ctx)
	if err == nil {
		res, err = wire.CheckStatus(res)
	}
	if err == nil {
		p.Manifest, err = pipeabi.DecodeManifest(res)
	}
	if err != nil {
		g.Close(ctx)
		return nil, fmt.Errorf("pipe %s: manifest: %w", source, err)
	}
	p.Layout, _ = pipeabi.NewLayout(p.Manifest.Fields) // validated by DecodeManifest
	pi, err := p.initGuest(ctx, g)
	if err != nil {
		return nil, err
	}
	p.idle = append(p.idle, pi)
	p.live = 1
	return p, nil
}

func (p *Pipe) initGuest(ctx context.Context, g Guest) (*PipeInstance, error) {
	res, err := g.Init(ctx, p.config)
	if err == nil {
		_, err = wire.CheckStatus(res)
	}
	if err != nil {
		g.Close(ctx)
		msg := strings.TrimPrefix(err.Error(), wire.ErrNotOK.Error()+": ")
		if r, ok := strings.CutPrefix(msg, IdlePrefix); ok {
			return nil, &IdleError{Pipe: p.Name(), Reason: r}
		}
		return nil, fmt.Errorf("pipe %s: init: %w", p.Name(), err)
	}
	p.instances.Add(1)
	return &PipeInstance{p: p, g: g}, nil
}

// IdlePrefix starts a canopy_init error that is no failure: the pipe
// declines to run because something it needs is not configured (the geo
// pipe without a database). LoadPipe answers IdleError; the daemon shows
// the rest of the text in /status and quarantines nothing. (Not in
// sdk/pipe yet: any change there rebuilds every built-in .wasm.)
const IdlePrefix = "idle: "

// IdleError is LoadPipe's answer for a pipe whose init declined to run
// (pipe.Idle): not a failure, the pipe just has nothing to do.
type IdleError struct {
	Pipe, Reason string
}

func (e *IdleError) Error() string { return "pipe " + e.Pipe + " is idle: " + e.Reason }

// Name is the manifest's name.
func (p *Pipe) Name() string { return p.Manifest.Name }

// ErrQuarantined is returned by Get for a quarantined pipe.
var ErrQuarantined = errors.New("pipe is quarantined")

// Get returns an idle instance or makes a new one. For a serial pipe it
// waits while its one instance is in use.
func (p *Pipe) Get(ctx context.Context) (*PipeInstance, error) { return p.get(ctx, false) }

// get is Get; fresh makes a new instance even when one is idle (a serial
// pipe's idle instance is taken all the same: it was made after the one
// the caller had, which was the only one).
func (p *Pipe) get(ctx context.Context, fresh bool) (*PipeInstance, error) {
	if p.Breaker.Quarantined() {
		return nil, ErrQuarantined
	}
	serial := p.Manifest.Serial
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, fmt.Errorf("pipe %s is unloaded", p.Name())
		}
		if n := len(p.idle); n > 0 && (!fresh || serial) {
			pi := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return pi, nil
		}
		if !serial || p.live == 0 {
			break
		}
		p.turn.Wait()
	}
	p.live++
	p.mu.Unlock()
	g, err := p.newGuest(ctx)
	if err != nil {
		p.gone()
		p.fail(err)
		return nil, err
	}
	pi, err := p.initGuest(ctx, g)
	if err != nil {
		p.gone()
		p.fail(err)
		return nil, err
	}
	return pi, nil
}

// gone records that an instance (or an attempt to make one) is no more and
// wakes a Get waiting for a serial pipe's turn.
func (p *Pipe) gone() {
	p.mu.Lock()
	p.live--
	p.turn.Broadcast()
	p.mu.Unlock()
}

// TakeIdle takes every idle instance out of the pool (for work that must
// reach each instance, like ticks); give them back with Put.
func (p *Pipe) TakeIdle() []*PipeInstance {
	p.mu.Lock()
	defer p.mu.Unlock()
	idle := p.idle
	p.idle = nil
	return idle
}

// Put gives an instance back; a dead one, or one of a quarantined pipe,
// is closed instead.
func (p *Pipe) Put(ctx context.Context, pi *PipeInstance) {
	quarantined := p.Breaker.Quarantined()
	p.mu.Lock()
	if !p.closed && pi.g != nil && !quarantined {
		p.idle = append(p.idle, pi)
		p.turn.Broadcast()
		p.mu.Unlock()
		return
	}
	closed := p.closed
	p.mu.Unlock()
	pi.close(ctx, !closed && !quarantined)
}

func (p *Pipe) fail(err error) {
	if p.Breaker.Fail(err) {
		p.release()
	}
}

// Quarantine quarantines the pipe at once, for reason (shown in its
// status): the host refuses what it did (e.g. it created more keys than
// its cap) rather than how it ran.
func (p *Pipe) Quarantine(reason string) {
	p.Breaker.Quarantine(reason)
	p.release()
}

// release closes the idle instances of a quarantined pipe: it never runs
// again (until replaced), and each instance holds its linear memory, up to
// the memory cap. Instances busy now are closed when Put back.
func (p *Pipe) release() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pi := range idle {
		pi.kill(context.Background())
	}
}

// Process runs one encoded record batch (n records) on an instance of p
// (Get, PipeInstance.Process, Put) and appends the validated deltas to
// dst. A call stopped at the time limit (ErrTimeLimit) is not held
// against the pipe at once: a stalled machine (a loaded CI runner, a
// swapping host) looks the same as a slow pipe, and a dropped batch loses
// its counts for good while the log's offset moves on. So the batch runs
// once more on a fresh instance with RetryLimitFactor times the limit,
// counted in PipeStats.Retried. The stopped call's output is never read,
// so nothing counts twice. Only when the retry fails too is the batch
// dropped, as one failure. Any other failure (a trap of the guest's own,
// a panic, an error result, malformed deltas) drops the batch at once,
// like PipeInstance.Process.
func (p *Pipe) Process(ctx context.Context, batch []byte, n int, dst []pipeabi.Delta) ([]pipeabi.Delta, error) {
	keep := len(dst)
	pi, err := p.Get(ctx)
	if err != nil {
		return dst, fmt.Errorf("pipe %s: %w", p.Name(), err)
	}
	dst, err = pi.process(ctx, batch, n, dst, true)
	p.Put(ctx, pi)
	if !errors.Is(err, ErrTimeLimit) {
		return dst, err
	}
	dst, first := dst[:keep], err
	p.retried.Add(1)
	p.lastRetry.Store(err.Error())
	if p.OnRetry != nil {
		p.OnRetry(err)
	}
	lctx := withLimitFactor(ctx, RetryLimitFactor)
	pi, gerr := p.get(lctx, true)
	if gerr != nil {
		if errors.Is(gerr, ErrQuarantined) {
			// Quarantined meanwhile (other batches failed): the batch is
			// dropped, so its timeout counts after all. (A failed new
			// instance was counted by get.)
			p.fail(first)
		}
		return dst, fmt.Errorf("%w; no retry: %w", first, gerr)
	}
	dst, err = pi.process(lctx, batch, n, dst, false)
	p.Put(ctx, pi)
	if err != nil {
		return dst[:keep], fmt.Errorf("%w (on a retry with %d× the limit: the first call passed the time limit)", err, RetryLimitFactor)
	}
	return dst, nil
}

// Process runs one encoded record batch (n records) on an instance and
// appends the validated deltas to dst. Any failure — trap, timeout, memory
// cap, an error result, malformed deltas — kills the instance (the next
// Get makes a fresh one) and counts against the breaker; the batch's
// deltas are dropped. (Pipe.Process retries a batch that timed out.)
func (pi *PipeInstance) Process(ctx context.Context, batch []byte, n int, dst []pipeabi.Delta) ([]pipeabi.Delta, error) {
	return pi.process(ctx, batch, n, dst, false)
}

// process is Process; with retry a call stopped at the time limit kills
// the instance but is neither counted against the breaker nor as records
// processed (the retry counts them): the caller runs the batch again.
func (pi *PipeInstance) process(ctx context.Context, batch []byte, n int, dst []pipeabi.Delta, retry bool) ([]pipeabi.Delta, error) {
	p := pi.p
	if pi.g == nil {
		return dst, errClosed
	}
	start := time.Now()
	res, err := pi.g.Process(ctx, batch)
	if err == nil {
		keep := len(dst)
		dst, err = pipeabi.DecodeDeltas(dst, res, p.Manifest)
		if err != nil {
			dst = dst[:keep]
		}
	}
	p.nanos.Add(uint64(time.Since(start)))
	p.calls.Add(1)
	retried := retry && errors.Is(err, ErrTimeLimit)
	if !retried {
		p.records.Add(uint64(n))
	}
	if err != nil {
		pi.kill(ctx)
		if !retried {
			p.fail(err)
		}
		return dst, fmt.Errorf("pipe %s: %w", p.Name(), err)
	}
	p.memBytes.Store(pi.g.MemoryBytes())
	return dst, nil
}

// Tick runs the pipe's tick (if any) and appends its deltas.
func (pi *PipeInstance) Tick(ctx context.Context, now time.Time, dst []pipeabi.Delta) ([]pipeabi.Delta, error) {
	p := pi.p
	if pi.g == nil {
		return dst, errClosed
	}
	res, err := pi.g.Tick(ctx, now.UnixNano())
	if err == nil {
		keep := len(dst)
		dst, err = pipeabi.DecodeDeltas(dst, res, p.Manifest)
		if err != nil {
			dst = dst[:keep]
		}
	}
	if err != nil {
		pi.kill(ctx)
		p.fail(err)
		return dst, fmt.Errorf("pipe %s: tick: %w", p.Name(), err)
	}
	return dst, nil
}

func (pi *PipeInstance) kill(ctx context.Context) {
	if pi.g != nil {
		pi.g.Close(ctx)
		pi.g = nil
		pi.p.instances.Add(-1)
		pi.p.gone()
	}
}

// close runs cleanup (briefly) and closes the guest.
func (pi *PipeInstance) close(ctx context.Context, cleanup bool) {
	if pi.g == nil {
		return
	}
	if cleanup {
		cctx, cancel := context.WithTimeout(ctx, defaultCleanupLimit)
		pi.g.Cleanup(cctx)
		cancel()
	}
	pi.kill(ctx)
}

// Close runs cleanup on idle instances and releases the pipe. Instances
// in use are closed when they are Put back.
func (p *Pipe) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.turn.Broadcast()
	p.mu.Unlock()
	for _, pi := range idle {
		pi.close(ctx, true)
	}
	if p.onClose != nil {
		return p.onClose(ctx)
	}
	return nil
}

// PipeStats are a pipe's counters for /status and benchmarks.
type PipeStats struct {
	// Calls counts every call, a retry and the call it retries too.
	Calls         uint64  `json:"calls"`
	Records       uint64  `json:"records"`
	NanosPerLine  float64 `json:"ns_per_line"`
	Instances     int64   `json:"instances"`
	InstanceBytes uint32  `json:"instance_memory_bytes"`
	// Retried counts batches Pipe.Process ran again because a call passed
	// the time limit (each one a failure too if the retry failed as well);
	// LastRetryError is why the last one was.
	Retried        uint64 `json:"retried_calls"`
	LastRetryError string `json:"last_retry_error,omitempty"`
	BreakerStatus
}

// Stats returns the pipe's counters.
func (p *Pipe) Stats() PipeStats {
	s := PipeStats{Calls: p.calls.Load(), Records: p.records.Load(), Instances: p.instances.Load(),
		InstanceBytes: p.memBytes.Load(), Retried: p.retried.Load(), BreakerStatus: p.Breaker.Status()}
	if e, ok := p.lastRetry.Load().(string); ok {
		s.LastRetryError = e
	}
	if s.Records > 0 {
		s.NanosPerLine = float64(p.nanos.Load()) / float64(s.Records)
	}
	return s
}

// EncodeParams encodes a pipe's params for init, sorted by key.
func EncodeParams(params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = params[k]
	}
	return wire.AppendConfig(nil, keys, vals)
}
