//go:build linux

package wasmab

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

type stat struct {
	name  string
	calls int
	incl  time.Duration
}

type prof struct {
	re    *regexp.Regexp
	stats map[string]*stat
	stack []time.Time
	all   []string
}

func (p *prof) NewFunctionListener(d api.FunctionDefinition) experimental.FunctionListener {
	p.all = append(p.all, d.DebugName())
	if !p.re.MatchString(d.DebugName()) {
		return nil
	}
	s := &stat{name: d.DebugName()}
	p.stats[s.name] = s
	return &lsn{p: p, s: s}
}

type lsn struct {
	p *prof
	s *stat
}

func (l *lsn) Before(ctx context.Context, mod api.Module, def api.FunctionDefinition, params []uint64, si experimental.StackIterator) {
	l.p.stack = append(l.p.stack, time.Now())
}
func (l *lsn) After(ctx context.Context, mod api.Module, def api.FunctionDefinition, results []uint64) {
	n := len(l.p.stack) - 1
	l.s.incl += time.Since(l.p.stack[n])
	l.s.calls++
	l.p.stack = l.p.stack[:n]
}
func (l *lsn) Abort(ctx context.Context, mod api.Module, def api.FunctionDefinition, err error) {
	l.After(ctx, mod, def, nil)
}

// TestProf times the guest functions whose names match FUNCS (a regexp)
// over ten passes of pipebench's records.
func TestProf(t *testing.T) {
	if os.Getenv("WASM") == "" {
		t.Skip("set WASM to the .wasm file to profile")
	}
	file := os.Getenv("WASM")
	p := &prof{re: regexp.MustCompile(os.Getenv("FUNCS")), stats: map[string]*stat{}}
	ctx := experimental.WithFunctionListenerFactory(context.Background(), p)
	e, err := host.NewEngine("")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	opt := host.PipeOptions{}
	if db := os.Getenv("GEODB"); db != "" {
		opt.Params = map[string]string{"database": db}
		opt.Grants.Files = []host.FileGrant{{HostFile: db, GuestPath: db}}
	}
	if g := os.Getenv("GGC"); g != "" {
		opt.Grants.Env = map[string]string{"GOGC": g}
	}
	wp, err := e.LoadPipe(ctx, file, wasm, opt)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("LIST") != "" {
		for _, n := range p.all {
			fmt.Println(n)
		}
		return
	}
	recs, err := pipebench.Records(pipebench.Lines, 1)
	if err != nil {
		t.Fatal(err)
	}
	pi, err := wp.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batches, err := pipebench.Encode(wp.Manifest, recs)
	if err != nil {
		t.Fatal(err)
	}
	var ds []pipeabi.Delta
	for _, bt := range batches { // warm up
		ds, _ = pi.Process(ctx, bt.Buf, bt.N, ds[:0])
	}
	for _, s := range p.stats {
		s.calls, s.incl = 0, 0
	}
	lines := 0
	runtime.LockOSThread()
	c0 := threadCPU()
	defer func() { fmt.Printf("total %.0f cpu-ns/line\n", float64(threadCPU()-c0)/float64(lines)) }()
	for range 10 {
		for _, bt := range batches {
			if ds, err = pi.Process(ctx, bt.Buf, bt.N, ds[:0]); err != nil {
				t.Fatal(err)
			}
			lines += bt.N
		}
	}
	var ss []*stat
	for _, s := range p.stats {
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].incl > ss[j].incl })
	for _, s := range ss {
		if s.calls == 0 {
			continue
		}
		fmt.Printf("%10.1f ns/line %9.2f calls/line %8.0f ns/call  %s\n", float64(s.incl)/float64(lines), float64(s.calls)/float64(lines), float64(s.incl)/float64(s.calls), s.name)
	}
}

func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0) // CLOCK_THREAD_CPUTIME_ID
	return time.Duration(ts.Nano())
}
