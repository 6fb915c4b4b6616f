package host

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// Guest is one pipe instance at the ABI's byte level: a WASM instance, the
// pipe's Go value in-process, or a natively built pipe in a child process.
// Returned buffers are valid until the next call. Not safe for concurrent
// use; after an error the guest is dead.
type Guest interface {
	APIVersion(ctx context.Context) (uint32, error)
	Manifest(ctx context.Context) ([]byte, error)
	Init(ctx context.Context, cfg []byte) ([]byte, error)
	Process(ctx context.Context, batch []byte) ([]byte, error)
	Tick(ctx context.Context, now int64) ([]byte, error)
	Cleanup(ctx context.Context) ([]byte, error)
	MemoryBytes() uint32
	Close(ctx context.Context) error
}

// wasmGuest speaks the ABI to a WASM instance.
type wasmGuest struct {
	in             *Instance
	bufPtr, bufCap uint32
}

// newWASMGuest instantiates m as a pipe guest.
func newWASMGuest(ctx context.Context, m *Module) (Guest, error) {
	in, err := m.Instantiate(ctx)
	if err != nil {
		return nil, err
	}
	return &wasmGuest{in: in}, nil
}

func (g *wasmGuest) APIVersion(ctx context.Context) (uint32, error) {
	fn := g.in.Func(wire.ExportAPIVersion)
	if fn == nil {
		return 0, g.in.Fail(fmt.Errorf("not a canopy pipe: no export %s", wire.ExportAPIVersion))
	}
	v, err := g.in.Call(ctx, fn)
	return uint32(v), err
}

func (g *wasmGuest) result(ctx context.Context, name string, params ...uint64) ([]byte, error) {
	fn := g.in.Func(name)
	if fn == nil {
		return nil, g.in.Fail(fmt.Errorf("not a canopy pipe: no export %s", name))
	}
	packed, err := g.in.Call(ctx, fn, params...)
	if err != nil {
		return nil, err
	}
	return g.in.ReadPacked(packed)
}

// input writes b into the guest's input buffer, growing it through
// canopy_alloc only when b does not fit.
func (g *wasmGuest) input(ctx context.Context, b []byte) (uint32, error) {
	if uint64(len(b)) > uint64(g.in.m.limits.MemoryBytes) {
		return 0, g.in.Fail(fmt.Errorf("input of %d bytes exceeds the memory cap", len(b)))
	}
	if uint32(len(b)) > g.bufCap || g.bufPtr == 0 {
		ptr, err := g.in.Call(ctx, g.in.Func(wire.ExportAlloc), uint64(max(len(b), 1)))
		if err != nil {
			return 0, err
		}
		if uint32(ptr) == 0 {
			return 0, g.in.Fail(fmt.Errorf("%s(%d) returned 0", wire.ExportAlloc, len(b)))
		}
		g.bufPtr, g.bufCap = uint32(ptr), uint32(max(len(b), 1))
	}
	return g.bufPtr, g.in.Write(g.bufPtr, b)
}

func (g *wasmGuest) Manifest(ctx context.Context) ([]byte, error) {
	return g.result(ctx, pipeabi.ExportManifest)
}

func (g *wasmGuest) Init(ctx context.Context, cfg []byte) ([]byte, error) {
	ptr, err := g.input(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return g.result(ctx, pipeabi.ExportInit, uint64(ptr), uint64(len(cfg)))
}

func (g *wasmGuest) Process(ctx context.Context, batch []byte) ([]byte, error) {
	ptr, err := g.input(ctx, batch)
	if err != nil {
		return nil, err
	}
	return g.result(ctx, pipeabi.ExportProcess, uint64(ptr), uint64(len(batch)))
}

func (g *wasmGuest) Tick(ctx context.Context, now int64) ([]byte, error) {
	if g.in.Func(pipeabi.ExportTick) == nil {
		return okNoDeltas, nil
	}
	return g.result(ctx, pipeabi.ExportTick, uint64(now))
}

func (g *wasmGuest) Cleanup(ctx context.Context) ([]byte, error) {
	return g.result(ctx, pipeabi.ExportCleanup)
}

func (g *wasmGuest) MemoryBytes() uint32 { return g.in.MemoryBytes() }

func (g *wasmGuest) Close(ctx context.Context) error { return g.in.Close(ctx) }

// okNoDeltas is the result of a tick for a pipe without one.
var okNoDeltas = pipeabi.AppendDeltaCount(wire.AppendOK(nil), 0)

// runnerGuest runs a pipe's Go value in-process through the same ABI
// encoding (unit tests, the native side of benchmarks).
type runnerGuest struct {
	r *pipe.Runner
}

// newRunnerGuest wraps a pipe's Go value.
func newRunnerGuest(p pipe.Pipe) Guest { return &runnerGuest{r: pipe.NewRunner(p)} }

// RunnerFactory makes in-process guests of a pipe's Go value, each with its
// own state like a WASM instance: when p is a pointer to a struct, every
// guest gets a new zero value of that struct (Init sets it up); other values
// are copied.
func RunnerFactory(p pipe.Pipe) func(context.Context) (Guest, error) {
	t := reflect.TypeOf(p)
	return func(context.Context) (Guest, error) {
		q := p
		if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
			q = reflect.New(t.Elem()).Interface().(pipe.Pipe)
		}
		return newRunnerGuest(q), nil
	}
}

func (g *runnerGuest) APIVersion(context.Context) (uint32, error) { return pipeabi.Version, nil }
func (g *runnerGuest) Manifest(context.Context) ([]byte, error)   { return g.r.ManifestResult(), nil }
func (g *runnerGuest) Init(_ context.Context, cfg []byte) ([]byte, error) {
	return g.r.Init(cfg), nil
}
func (g *runnerGuest) Process(_ context.Context, b []byte) ([]byte, error) {
	in := g.r.Buffer(len(b))
	copy(in, b)
	return g.r.Process(in), nil
}
func (g *runnerGuest) Tick(_ context.Context, now int64) ([]byte, error) { return g.r.Tick(now), nil }
func (g *runnerGuest) Cleanup(context.Context) ([]byte, error)           { return g.r.Cleanup(), nil }
func (g *runnerGuest) MemoryBytes() uint32                               { return 0 }
func (g *runnerGuest) Close(context.Context) error                       { return nil }

var errClosed = errors.New("guest is closed")
