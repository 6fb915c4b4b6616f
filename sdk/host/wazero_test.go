package host_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// reviewedWazero is the wazero version sdk/host's workarounds were checked
// against (RATIONALE.md, "Pipes: loop checks instead of wazero's
// WithCloseOnContextDone" and "WASM host: what stays outside wazero's API").
const reviewedWazero = "v1.12.0"

// TestWazeroReviewed fails on any other wazero version, so an upgrade
// re-checks what only a benchmark can tell: whether WithCloseOnContextDone
// has become cheap enough to replace the loop checks (task bench:pipes,
// x-native per pipe), and whether EngineOptions.DropCode and the data merge
// still save memory (task bench:agent).
func TestWazeroReviewed(t *testing.T) {
	// A test binary's build info lists no dependencies, so ask the go tool.
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/tetratelabs/wazero").Output()
	if err != nil {
		t.Fatalf("go list -m wazero: %v", err)
	}
	if v := strings.TrimSpace(string(out)); v != reviewedWazero {
		t.Fatalf("wazero is %s, sdk/host was reviewed against %s: measure WithCloseOnContextDone against the loop checks "+
			"(task bench:pipes), run TestDropCodeBodies and bench:agent, update RATIONALE.md, then reviewedWazero",
			v, reviewedWazero)
	}
}

// TestSpinningGuestLetsGCRun: the loop checks' memory.grow must exit to Go,
// or a guest that never calls out can't be preempted, a stop-the-world GC
// waits for it forever, and the watchdog (a Go timer) never fires. That
// deadlock would hang the test itself, so the spinning runs in a child
// process that the test kills and reports.
func TestSpinningGuestLetsGCRun(t *testing.T) {
	if path := os.Getenv("CANOPY_SPIN_WASM"); path != "" {
		spinUnderGC(t, path)
		return
	}
	files, err := builds()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSpinningGuestLetsGCRun$", "-test.v")
	cmd.Env = append(os.Environ(), "CANOPY_SPIN_WASM="+files["loop"], "GOMAXPROCS=2")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("a spinning guest blocked the Go GC for 30 s: wazero's memory.grow no longer exits to Go "+
			"(see sdk/host/interrupt.go); child output:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "contained") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func spinUnderGC(t *testing.T, path string) {
	ctx := context.Background()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e := pipetest.Engine(t)
	p, err := e.LoadPipe(ctx, "loop", wasm, host.PipeOptions{Limits: host.Limits{CallTimeout: testTimeout}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	stop := make(chan struct{})
	gcs := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				gcs <- n
				return
			default:
				runtime.GC()
				n++
			}
		}
	}()
	pi, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pi.Process(ctx, batchFor(p, 10, 200), 10, nil)
	p.Put(ctx, pi)
	close(stop)
	n := <-gcs
	if err == nil || !strings.Contains(err.Error(), "time limit") {
		t.Fatalf("process = %v, want the time limit", err)
	}
	t.Logf("contained with %d GCs during the call", n)
}
