package pipes

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// keyPerLine makes a new key for every line: the pipe the key cap stops.
type keyPerLine struct{ n int }

func (k *keyPerLine) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "keyperline", Version: "0", Fields: []string{pipe.FieldStatus},
		Roots: []pipe.Root{{Path: []string{"kpl"}, Action: pipe.Add}}}
}
func (k *keyPerLine) Init(pipe.Config) error { return nil }
func (k *keyPerLine) Process(r *pipe.Record, out *pipe.Out) {
	k.n++
	out.Emit(1, "kpl", fmt.Sprint(k.n))
}

// TestKeyCap: a pipe that creates keys without bound is quarantined at
// its max_keys, with no batch merged past the cap, while a well-behaved
// pipe beside it counts every line.
func TestKeyCap(t *testing.T) {
	const maxKeys, batch = 1000, 300
	tr := tree.New()
	m, err := New(Options{Tree: tr, Engine: pipetest.Engine(t), Workers: 1, BatchSize: batch, Log: log.New(io.Discard, "", 0),
		Config: config.PipesConfig{Config: map[string]config.PipeConfig{"kpl": {MaxKeys: maxKeys}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	for name, p := range map[string]pipe.Pipe{"kpl.wasm": &keyPerLine{}, "count.wasm": &countLines{}} {
		hp, err := host.NewPipe(ctx, name, host.RunnerFactory(p), host.PipeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Add(name, hp); err != nil {
			t.Fatal(err)
		}
	}
	f := logformat.MustCompile("combined")
	var lines [][]byte
	for i := range 3000 {
		lines = append(lines, fmt.Appendf(nil, `10.0.0.%d - - [05/Jan/2026:10:00:00 +0800] "GET /x HTTP/1.1" 200 1 "-" "curl/8"`, i%250))
	}
	m.Run(ctx, []*logformat.Format{f}, nil, lines)

	p, _ := key.Parse("kpl,*")
	if got := len(tr.Get(p)); got != 900 { // three whole batches fit under 1000
		t.Errorf("kpl has %d keys, want 900 (whole batches under the cap of %d)", got, maxKeys)
	}
	p, _ = key.Parse("count,lines")
	if got := tr.Get(p); len(got) != 1 || got[0].Value != float64(len(lines)) {
		t.Errorf("count,lines = %+v, want %d", got, len(lines))
	}
	for _, ps := range m.Status().Pipes {
		switch ps.File {
		case "kpl.wasm":
			if !ps.Quarantined || !strings.Contains(ps.QuarantineReason, "max_keys 1000") || ps.Keys != 900 || ps.MaxKeys != maxKeys || ps.Instances != 0 {
				t.Errorf("kpl status %+v: want quarantined for its max_keys, 900 keys, no instance left", ps)
			}
		case "count.wasm":
			if ps.Quarantined || ps.MaxKeys != DefaultMaxKeys || ps.Keys != 1 {
				t.Errorf("count status %+v", ps)
			}
		}
	}
}

// countLines counts lines under one key.
type countLines struct{}

func (countLines) Manifest() pipe.Manifest {
	return pipe.Manifest{Name: "count", Version: "0", Fields: []string{pipe.FieldStatus},
		Roots: []pipe.Root{{Path: []string{"count"}, Action: pipe.Add}}}
}
func (countLines) Init(pipe.Config) error                { return nil }
func (countLines) Process(r *pipe.Record, out *pipe.Out) { out.Emit(1, "count", "lines") }
