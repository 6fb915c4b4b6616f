package host

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/canopy-dev/canopy/sdk/internal/procwire"
)

// processGuest speaks the ABI to a natively built pipe in a child process
// (pipe.Main → pipe.Serve over stdin/stdout). It is the native side of the
// WASM-vs-native benchmark: the same pipe source, compiled by gc for the
// host CPU, behind the same batch encoding. It is not a sandbox.
type processGuest struct {
	cmd  *exec.Cmd
	w    *bufio.Writer
	r    *bufio.Reader
	in   io.WriteCloser
	res  []byte
	dead error
}

// NewProcessGuest starts the native pipe binary at path.
func NewProcessGuest(path string) (Guest, error) {
	cmd := exec.Command(path)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start native pipe %s: %w", path, err)
	}
	return &processGuest{cmd: cmd, in: in, w: bufio.NewWriterSize(in, 1<<16), r: bufio.NewReaderSize(out, 1<<16)}, nil
}

func (g *processGuest) call(op byte, payload []byte) ([]byte, error) {
	if g.dead != nil {
		return nil, g.dead
	}
	var hdr [5]byte
	hdr[0] = op
	binary.LittleEndian.PutUint32(hdr[1:], uint32(len(payload)))
	g.w.Write(hdr[:])
	g.w.Write(payload)
	if err := g.w.Flush(); err != nil {
		g.dead = fmt.Errorf("native pipe: %w", err)
		return nil, g.dead
	}
	var lb [4]byte
	if _, err := io.ReadFull(g.r, lb[:]); err != nil {
		g.dead = fmt.Errorf("native pipe: %w", err)
		return nil, g.dead
	}
	n := binary.LittleEndian.Uint32(lb[:])
	if n > DefaultResultBytes {
		g.dead = fmt.Errorf("native pipe: result of %d bytes", n)
		return nil, g.dead
	}
	if cap(g.res) < int(n) {
		g.res = make([]byte, n)
	}
	g.res = g.res[:n]
	if _, err := io.ReadFull(g.r, g.res); err != nil {
		g.dead = fmt.Errorf("native pipe: %w", err)
		return nil, g.dead
	}
	return g.res, nil
}

func (g *processGuest) APIVersion(context.Context) (uint32, error) {
	b, err := g.call(procwire.OpAPIVersion, nil)
	if err != nil {
		return 0, err
	}
	if len(b) != 4 {
		return 0, fmt.Errorf("native pipe: api version of %d bytes", len(b))
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (g *processGuest) Manifest(context.Context) ([]byte, error) {
	return g.call(procwire.OpManifest, nil)
}
func (g *processGuest) Init(_ context.Context, cfg []byte) ([]byte, error) {
	return g.call(procwire.OpInit, cfg)
}
func (g *processGuest) Process(_ context.Context, b []byte) ([]byte, error) {
	return g.call(procwire.OpProcess, b)
}
func (g *processGuest) Tick(_ context.Context, now int64) ([]byte, error) {
	return g.call(procwire.OpTick, binary.LittleEndian.AppendUint64(nil, uint64(now)))
}
func (g *processGuest) Cleanup(context.Context) ([]byte, error) {
	return g.call(procwire.OpCleanup, nil)
}
func (g *processGuest) MemoryBytes() uint32 { return 0 }
func (g *processGuest) Close(context.Context) error {
	g.in.Close()
	return g.cmd.Wait()
}
