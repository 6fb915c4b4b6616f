// Command badpipe is a misbehaving pipe for the containment tests. Its
// behaviour is picked at link time: -ldflags=-X main.mode=MODE.
//
//	loop       process never returns
//	nested     process never returns, calling a function with a short loop
//	recurse    process never returns, recursing without a loop
//	membomb    process allocates without bound
//	inittrap   init dies with a Go fatal error (a real trap, not a panic)
//	proctrap   process dies with a Go fatal error on the 3rd batch
//	panic      process panics (the SDK turns it into an error result)
//	outside    process writes outside its declared roots
//	stallonce  process spins on the 2nd record of its instance (after one
//	           Emit) unless StallMarker exists, which it creates first: the
//	           first call of all its instances stalls, a retry on a fresh
//	           instance runs (StallMarker needs a writable mount at /state)
package main

import (
	"os"
	"sync"

	"github.com/canopy-dev/canopy/sdk/pipe"
)

var mode string

type bad struct {
	batches int
	records int
	hoard   [][]byte
}

// StallMarker is the file the stallonce mode shares between instances.
const StallMarker = "/state/stalled"

func (b *bad) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "bad-" + mode, Version: "0",
		Fields: []string{pipe.FieldStatus},
		Roots:  []pipe.Root{{Path: []string{"bad", mode}, Action: pipe.Add}}}
}

func fatal() {
	var mu sync.Mutex
	mu.Unlock() // "fatal error: sync: unlock of unlocked mutex": not recoverable
}

func (b *bad) Init(pipe.Config) error {
	if mode == "inittrap" {
		fatal()
	}
	return nil
}

var sink int

// inner runs a loop far shorter than the host's check interval.
//
//go:noinline
func inner() int {
	s := 0
	for i := range 1000 {
		s += i
	}
	return s
}

// fib recurses ≈ 1.6^n times without a loop, a call tree far larger than
// any stack.
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func (b *bad) Process(r *pipe.Record, out *pipe.Out) {
	switch mode {
	case "loop":
		for i := 0; ; i++ {
			sink += i
		}
	case "nested":
		for {
			sink += inner()
		}
	case "recurse":
		sink += fib(r.Status)
	case "membomb":
		for {
			b.hoard = append(b.hoard, make([]byte, 1<<20))
		}
	case "proctrap":
		if r.Status == 599 {
			fatal()
		}
	case "panic":
		panic("pipe bug")
	case "outside":
		out.Emit(1, "status", "200")
		return
	case "stallonce":
		if b.records++; b.records == 2 {
			if _, err := os.Stat(StallMarker); err != nil {
				if err := os.WriteFile(StallMarker, nil, 0o644); err != nil {
					panic(err) // no marker: a retry would stall again
				}
				for i := 0; ; i++ {
					sink += i
				}
			}
		}
	}
	out.Emit(1, "bad", mode)
}

func init() { pipe.Register(&bad{}) }

func main() { pipe.Main() }
