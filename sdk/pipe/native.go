//go:build !wasip1

package pipe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/canopy-dev/canopy/sdk/internal/procwire"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// registered are the pipes of a native program: normally one (a pipe
// binary, the counterpart of the wasip1 build's exported pipe), several
// when a benchmark links many pipe packages into one program.
var registered []Pipe

// Register records p as this program's pipe; Main serves it. In the WASM
// build the same call makes p the module's exported pipe.
func Register(p Pipe) { registered = append(registered, p) }

// Registered returns the pipes registered so far, in init order.
func Registered() []Pipe { return append([]Pipe(nil), registered...) }

// Main runs a natively built pipe as a child process of the host, speaking
// the ABI over stdin/stdout (see Serve). It exits the process when stdin
// closes.
func Main() {
	if len(registered) == 0 {
		fmt.Fprintln(os.Stderr, errNoPipe)
		os.Exit(2)
	}
	if err := Serve(registered[len(registered)-1], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(1)
	}
}

// Serve answers ABI calls for p read from r until r ends (the protocol
// of sdk/internal/procwire).
func Serve(p Pipe, r io.Reader, w io.Writer) error {
	run := NewRunner(p)
	br := bufio.NewReaderSize(r, 1<<16)
	bw := bufio.NewWriterSize(w, 1<<16)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("cannot read request: %w", err)
		}
		n := int(binary.LittleEndian.Uint32(hdr[1:]))
		in := run.Buffer(n)
		if _, err := io.ReadFull(br, in); err != nil {
			return fmt.Errorf("cannot read request payload: %w", err)
		}
		var res []byte
		switch hdr[0] {
		case procwire.OpAPIVersion:
			res = binary.LittleEndian.AppendUint32(nil, pipeabi.Version)
		case procwire.OpManifest:
			res = run.ManifestResult()
		case procwire.OpInit:
			res = run.Init(in)
		case procwire.OpProcess:
			res = run.Process(in)
		case procwire.OpTick:
			if len(in) != 8 {
				return fmt.Errorf("tick payload of %d bytes", len(in))
			}
			res = run.Tick(int64(binary.LittleEndian.Uint64(in)))
		case procwire.OpCleanup:
			res = run.Cleanup()
		default:
			return fmt.Errorf("unknown op %q", hdr[0])
		}
		var lb [4]byte
		binary.LittleEndian.PutUint32(lb[:], uint32(len(res)))
		bw.Write(lb[:])
		bw.Write(res)
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("cannot write response: %w", err)
		}
	}
}
