package pipes

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// gatedFS holds reads of one file until gate is closed: a pipe that
// compiles for as long as the test wants. (Only Open: an embedded MapFS
// would lend its ReadFile, which does not come through here.)
type gatedFS struct {
	files fstest.MapFS
	name  string
	gate  chan struct{}
}

func (g gatedFS) Open(name string) (fs.File, error) {
	if name == g.name {
		<-g.gate
	}
	return g.files.Open(name)
}

// TestBackgroundLoad: with Options.Background, New returns while the pipes
// load; Status shows each one's state; lines given meanwhile wait and are
// then counted exactly once by every pipe.
func TestBackgroundLoad(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "counter.wasm")
	if err := pipetest.BuildWASM("testdata/counter", wasm); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	builtins := gatedFS{files: fstest.MapFS{"slow.wasm": {Data: b}, "quick.wasm": {Data: b}, "broken.wasm": {Data: []byte("garbage")}},
		name: "slow.wasm", gate: gate}
	tr := tree.New()
	m, err := New(Options{Builtins: builtins, Tree: tr, Engine: pipetest.Engine(t), Background: true, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer func() {
		select {
		case <-gate:
		default:
			close(gate) // a failed check must not leave the load hanging
		}
	}()
	states := func() (bool, map[string]string) {
		st := m.Status()
		out := map[string]string{}
		for _, p := range st.Pipes {
			out[p.File] = p.State
		}
		return st.Ready, out
	}
	if ready, got := states(); ready || got["slow.wasm"] != StateLoading {
		t.Fatalf("right after New: ready %v, states %v; want not ready, slow.wasm loading", ready, got)
	}

	const n = 5000
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, `10.0.0.%d - - [05/Jan/2026:10:00:00 +0800] "GET /x HTTP/1.1" 200 1 "-" "curl/8"`, i%250)
	}
	done := make(chan Result)
	go func() {
		done <- m.Run(context.Background(), []*logformat.Format{logformat.MustCompile("combined")}, nil, lines)
	}()

	// The other pipes finish loading while slow.wasm is held.
	want := map[string]string{"slow.wasm": StateLoading, "quick.wasm": StateReady, "broken.wasm": StateFailed}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ready, got := states()
		if ready {
			t.Fatalf("ready while slow.wasm is held: %v", got)
		}
		if maps.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	total, _ := key.Parse("lines,total")
	select {
	case r := <-done:
		t.Fatalf("Run returned before every pipe was in: %+v", r)
	default:
	}
	if got := tr.Get(total); len(got) != 0 {
		t.Fatalf("lines,total = %+v before the pipes were ready", got)
	}

	close(gate)
	r := <-done
	<-m.Ready()
	want["slow.wasm"] = StateReady
	if ready, got := states(); !ready || !maps.Equal(got, want) {
		t.Fatalf("after the load: ready %v, states %v; want ready, %v", ready, got, want)
	}
	// Two counters saw every line once.
	if got := tr.Get(total); r.Lines != n || r.Bad != 0 || len(got) != 1 || got[0].Value != 2*n {
		t.Fatalf("Run = %+v, lines,total = %+v; want %d lines, total %d", r, got, n, 2*n)
	}
	if st := m.Status(); st.Lines != n {
		t.Fatalf("status lines = %d, want %d", st.Lines, n)
	}
}
