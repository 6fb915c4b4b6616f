// Command hostile is a pipe that attacks the daemon it runs in, for
// TestHostilePipes. Its attack is picked at link time
// (-ldflags=-X main.mode=MODE):
//
//	loop     process never returns
//	membomb  process allocates without bound
//	trap     process dereferences nil (a runtime panic)
//	keys     process emits 10M distinct keys, a few hundred per line
//	passwd   process reads /etc/passwd (and tries around the sandbox)
//	socket   process dials params.target, listens, and tries socket fds
//
// An attack that gets through leaves its loot where the test looks: a
// marker under hostile,MODE, and for socket a connection to target. When
// the sandbox holds, passwd and socket panic with what they were told, so
// the reason reaches /status.
package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"

	"github.com/canopy-dev/canopy/sdk/pipe"
)

var mode string

// keysTotal and keysPerLine: 10M keys, spread thin enough that no single
// batch breaks a per-call cap (result size, memory): only their number
// harms.
const (
	keysTotal   = 10_000_000
	keysPerLine = 5
)

type hostile struct {
	hoard   [][]byte
	emitted int
	rng     *rand.Rand
	target  string // host:port the socket attack dials (params.target)
}

func (h *hostile) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "hostile-" + mode, Version: "0",
		Fields: []string{pipe.FieldStatus},
		Roots:  []pipe.Root{{Path: []string{"hostile", mode}, Action: pipe.Add}}}
}

func (h *hostile) Init(cfg pipe.Config) error {
	h.target = cfg.String("target", "127.0.0.1:1")
	// Distinct instances must emit distinct keys: seed from the host's
	// random source.
	h.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	return nil
}

var sink int

func (h *hostile) Process(r *pipe.Record, out *pipe.Out) {
	switch mode {
	case "loop":
		for i := 0; ; i++ {
			sink += i
		}
	case "membomb":
		for {
			b := make([]byte, 1<<20)
			b[len(b)-1] = 1
			h.hoard = append(h.hoard, b)
		}
	case "trap":
		var p *int
		sink += *p
	case "keys":
		for i := 0; i < keysPerLine && h.emitted < keysTotal; i++ {
			out.Emit(1, "hostile", "keys", fmt.Sprintf("%016x", h.rng.Uint64()))
			h.emitted++
		}
		return
	case "passwd":
		readFiles(out)
		return
	case "socket":
		dial(out, h.target)
		return
	}
	out.Emit(1, "hostile", mode, "lines")
}

// readFiles tries the obvious and the less obvious ways out.
func readFiles(out *pipe.Out) {
	var errs []string
	for _, p := range []string{"/etc/passwd", "../../../../etc/passwd", "etc/passwd", "/proc/self/root/etc/passwd", "/dev/stdin"} {
		b, err := os.ReadFile(p)
		if err == nil && len(b) > 0 {
			out.Mark(strings.SplitN(string(b), "\n", 2)[0], "hostile", "passwd", "loot")
			return
		}
		errs = append(errs, fmt.Sprintf("%s: %v", p, err))
	}
	if ents, err := os.ReadDir("/"); err == nil && len(ents) > 0 {
		out.Mark(ents[0].Name(), "hostile", "passwd", "rootdir")
		return
	} else {
		errs = append(errs, fmt.Sprintf("readdir /: %v", err))
	}
	panic("sandbox held: " + strings.Join(errs, "; "))
}

// dial tries to reach target, to listen, and to use inherited sockets.
func dial(out *pipe.Out, target string) {
	var errs []string
	if c, err := net.Dial("tcp", target); err == nil {
		fmt.Fprintf(c, "GET /hostile-socket HTTP/1.0\r\n\r\n")
		c.Close()
		out.Mark("dialled "+target, "hostile", "socket", "loot")
		return
	} else {
		errs = append(errs, fmt.Sprintf("dial %s: %v", target, err))
	}
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		// Go's wasip1 network is an in-process fake: a listener here
		// reaches nothing outside; say so rather than claim loot.
		errs = append(errs, "listen: "+l.Addr().String()+" (in-guest only)")
		l.Close()
	} else {
		errs = append(errs, fmt.Sprintf("listen: %v", err))
	}
	for fd := uintptr(3); fd < 8; fd++ {
		if l, err := net.FileListener(os.NewFile(fd, "sock")); err == nil {
			out.Mark(fmt.Sprintf("listener on fd %d: %s", fd, l.Addr()), "hostile", "socket", "loot")
			return
		} else {
			errs = append(errs, fmt.Sprintf("fd %d: %v", fd, err))
		}
	}
	panic("sandbox held: " + strings.Join(errs, "; "))
}

func init() { pipe.Register(&hostile{}) }

func main() { pipe.Main() }
