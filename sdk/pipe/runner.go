package pipe

import (
	"errors"
	"fmt"
	"time"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// Runner drives a Pipe through the ABI's byte-level calls: it decodes
// record batches, calls the pipe and encodes the merged deltas. The wasip1
// exports are thin wrappers around one Runner; natively the host and
// sdk/pipetest call it directly, so both builds run the same code.
//
// A Runner is not safe for concurrent use (neither is a WASM instance).
// Every returned buffer is valid until the next call.
type Runner struct {
	p      Pipe
	m      pipeabi.Manifest
	layout *pipeabi.Layout
	out    *Out
	batch  pipeabi.Batch
	rec    pipeabi.Record
	bp     BatchProcessor // the pipe's ProcessBatch, else nil
	rp     Processor      // the pipe's Process, else nil
	in     []byte
	res    []byte
	err    error // manifest error, reported by every call
}

// NewRunner wraps p. An invalid manifest is reported by ManifestResult and
// every later call, as the host would see it.
func NewRunner(p Pipe) *Runner {
	r := &Runner{p: p}
	r.m = p.Manifest()
	if err := r.m.Validate(); err != nil {
		r.err = err
		return r
	}
	r.layout, _ = pipeabi.NewLayout(r.m.Fields) // validated above
	r.bp, _ = p.(BatchProcessor)
	r.rp, _ = p.(Processor)
	if r.bp == nil && r.rp == nil {
		r.err = fmt.Errorf("pipe %q has neither a Process nor a ProcessBatch method", r.m.Name)
		return r
	}
	r.out = newOut(&r.m)
	return r
}

// Manifest returns the pipe's manifest.
func (r *Runner) Manifest() *pipeabi.Manifest { return &r.m }

// ManifestResult is canopy_manifest: status byte + encoded manifest.
func (r *Runner) ManifestResult() []byte {
	if r.err != nil {
		r.res = wire.AppendError(r.res[:0], r.err.Error())
		return r.res
	}
	r.res = pipeabi.AppendManifest(wire.AppendOK(r.res[:0]), &r.m)
	return r.res
}

// Buffer is canopy_alloc: the input buffer, at least n bytes long. It is
// reused; its address changes only when it grows.
func (r *Runner) Buffer(n int) []byte {
	if cap(r.in) < n {
		r.in = make([]byte, n, n+n/4)
	}
	return r.in[:n]
}

// Init is canopy_init: cfg is an encoded config (wire.AppendConfig).
func (r *Runner) Init(cfg []byte) []byte {
	err := r.err
	if err == nil {
		var c map[string]string
		c, err = wire.DecodeConfig(cfg)
		if err == nil {
			err = r.guard(func() error { return r.p.Init(Config(c)) })
		}
	}
	return r.status(err)
}

// Process is canopy_process: in is a record batch; the result holds the
// merged deltas.
func (r *Runner) Process(in []byte) []byte {
	if r.err != nil {
		return r.status(r.err)
	}
	if err := r.layout.DecodeBatch(in, &r.batch); err != nil {
		return r.status(err)
	}
	err := r.guard(func() error {
		if r.bp != nil {
			r.bp.ProcessBatch(&r.batch, r.out)
		} else {
			for i := range r.batch.Len() {
				if err := r.batch.Record(i, &r.rec); err != nil {
					return err
				}
				r.rp.Process(&r.rec, r.out)
			}
		}
		if f, ok := r.p.(Flusher); ok {
			f.Flush(r.out)
		}
		return nil
	})
	return r.deltas(err)
}

// Tick is canopy_tick: now is Unix nanoseconds.
func (r *Runner) Tick(now int64) []byte {
	if r.err != nil {
		return r.status(r.err)
	}
	t, ok := r.p.(Ticker)
	if !ok {
		return r.deltas(nil)
	}
	return r.deltas(r.guard(func() error { t.Tick(time.Unix(0, now), r.out); return nil }))
}

// Cleanup is canopy_cleanup.
func (r *Runner) Cleanup() []byte {
	c, ok := r.p.(Cleaner)
	if !ok {
		return r.status(nil)
	}
	return r.status(r.guard(func() error { c.Cleanup(); return nil }))
}

func (r *Runner) deltas(err error) []byte {
	if err != nil {
		r.out.fail(err)
	}
	r.res = r.out.flush(r.res[:0])
	return r.res
}

func (r *Runner) status(err error) []byte {
	if err != nil {
		r.res = wire.AppendError(r.res[:0], err.Error())
	} else {
		r.res = wire.AppendOK(r.res[:0])
	}
	return r.res
}

// guard turns a panic in pipe code into an error, so the host sees a failed
// call instead of a trap (natively: instead of a crashed process).
func (r *Runner) guard(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("pipe %q panicked: %v", r.m.Name, v)
		}
	}()
	err = f()
	if err == nil && r.out != nil {
		err = r.out.Err()
	}
	return err
}

// errNoPipe is reported when the main package registered nothing.
var errNoPipe = errors.New("no pipe registered: call pipe.Register in an init function")
