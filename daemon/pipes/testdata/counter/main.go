// Command counter counts lines (lines,total) and is built in two versions
// (-ldflags=-X main.version=N) for the hot-reload test.
package main

import (
	"time"

	"github.com/canopy-dev/canopy/sdk/pipe"
)

var version = "1"

type counter struct{}

func (counter) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "counter", Version: version, Fields: []string{pipe.FieldStatus},
		Roots: []pipe.Root{{Path: []string{"lines"}, Action: pipe.Add}}}
}

func (counter) Init(pipe.Config) error { return nil }

func (counter) Process(r *pipe.Record, out *pipe.Out) { out.Emit(1, "lines", "total") }

// Tick counts ticks per instance.
func (counter) Tick(now time.Time, out *pipe.Out) { out.Emit(1, "lines", "ticks") }

func init() { pipe.Register(counter{}) }

func main() { pipe.Main() }
