package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// builds compiles the good example pipe and every adversarial variant once
// per test binary, two at a time.
var builds = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp("", "canopy-host-test")
	if err != nil {
		return nil, err
	}
	buildDir = dir
	type job struct{ name, pkg, mode string }
	jobs := []job{{"good", "../pipe/example/statuscount", ""}}
	for _, m := range []string{"loop", "nested", "recurse", "membomb", "inittrap", "proctrap", "panic", "outside", "stallonce"} {
		jobs = append(jobs, job{m, "testdata/badpipe", m})
	}
	for _, m := range []string{"garbage", "bigresult", "bigalloc", "version", "badmanifest", "nop"} {
		jobs = append(jobs, job{m, "testdata/rawpipe", m})
	}
	out := map[string]string{}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			file := filepath.Join(dir, j.name+".wasm")
			var flags []string
			if j.mode != "" {
				flags = []string{"-X main.mode=" + j.mode}
			}
			err := pipetest.BuildWASM(j.pkg, file, flags...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[j.name] = file
		}()
	}
	wg.Wait()
	notWASM := filepath.Join(dir, "notwasm.wasm")
	os.WriteFile(notWASM, []byte("this is not WebAssembly\n"), 0o644)
	out["notwasm"] = notWASM
	return out, firstErr
})

// buildDir holds the builds; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func wasmFile(t *testing.T, name string) []byte {
	t.Helper()
	files, err := builds()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(files[name])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// batchFor encodes n records for p's own layout.
func batchFor(p *host.Pipe, n, status int) []byte {
	return p.Layout.AppendBatch(nil, sameRecords(n, status))
}

func sameRecords(n, status int) []pipeabi.Record {
	recs := make([]pipeabi.Record, n)
	for i := range recs {
		recs[i] = pipeabi.Record{Status: status, Method: "GET", Bytes: 10}
	}
	return recs
}

const testTimeout = 500 * time.Millisecond

func TestContainment(t *testing.T) {
	ctx := context.Background()
	e := pipetest.Engine(t)
	opt := host.PipeOptions{Limits: host.Limits{CallTimeout: testTimeout}}
	for _, tc := range []struct {
		name    string
		loadErr string // the pipe must be refused with this
		runErr  string // every batch must fail with this
	}{
		{name: "notwasm", loadErr: "cannot compile"},
		{name: "version", loadErr: "ABI version 3; this canopy speaks 2"},
		{name: "badmanifest", loadErr: "manifest"},
		{name: "inittrap", loadErr: "init"},
		{name: "loop", runErr: "time limit"},
		{name: "nested", runErr: "time limit"},
		{name: "recurse", runErr: "time limit"},
		{name: "membomb", runErr: "out of memory|time limit"}, // which cap comes first depends on the machine,
		{name: "proctrap", runErr: "fatal error: sync: unlock of unlocked mutex"},
		{name: "panic", runErr: "pipe bug"},
		{name: "outside", runErr: "outside"},
		{name: "garbage", runErr: "malformed"},
		{name: "bigresult", runErr: "exceeds the"},
		{name: "bigalloc", runErr: "out of memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good, err := e.LoadPipe(ctx, "good", wasmFile(t, "good"), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer good.Close(ctx)
			bad, err := e.LoadPipe(ctx, tc.name, wasmFile(t, tc.name), opt)
			if tc.loadErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.loadErr) {
					t.Fatalf("load error %v, want %q", err, tc.loadErr)
				}
				t.Logf("refused: %v", err)
			} else if err != nil {
				t.Fatalf("load: %v", err)
			}
			// Good and bad pipes side by side: the good one's counts stay
			// exact while the bad one fails and ends up quarantined.
			var goodCount float64
			for i := range 7 {
				pi, err := good.Get(ctx)
				if err != nil {
					t.Fatal(err)
				}
				ds, err := pi.Process(ctx, batchFor(good, 100, 200), 100, nil)
				good.Put(ctx, pi)
				if err != nil {
					t.Fatalf("good pipe failed beside %s: %v", tc.name, err)
				}
				for _, d := range ds {
					if strings.Join(d.Path, ",") == "hits,2xx" {
						goodCount += d.Value
					}
				}
				if bad == nil {
					continue
				}
				pi, err = bad.Get(ctx)
				if i >= 5 {
					if !errors.Is(err, host.ErrQuarantined) {
						t.Fatalf("batch %d: Get = %v, want quarantined", i, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("batch %d: Get: %v", i, err)
				}
				status := 200
				if tc.name == "proctrap" {
					status = 599
				}
				start := time.Now()
				_, err = pi.Process(ctx, batchFor(bad, 100, status), 100, nil)
				took := time.Since(start)
				bad.Put(ctx, pi)
				if err == nil || !containsAny(err.Error(), tc.runErr) {
					t.Fatalf("batch %d: err %v, want %q", i, err, tc.runErr)
				}
				if took > testTimeout+time.Second {
					t.Errorf("batch %d took %v", i, took)
				}
				if i == 0 {
					t.Logf("contained in %v: %v", took.Round(time.Millisecond), err)
				}
			}
			if goodCount != 700 {
				t.Errorf("good pipe counted %v, want 700", goodCount)
			}
			if bad != nil {
				st := bad.Stats()
				if !st.Quarantined || st.Failures != 5 || !strings.Contains(st.QuarantineReason, "5 failures") {
					t.Errorf("status %+v", st)
				}
				bad.Close(ctx)
			}
		})
	}
}

func TestRecoveryAfterTrap(t *testing.T) {
	// proctrap fails only on status 599: after a failure the next batch runs
	// on a fresh instance and succeeds.
	ctx := context.Background()
	p, err := pipetest.Engine(t).LoadPipe(ctx, "proctrap", wasmFile(t, "proctrap"), host.PipeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	for i, status := range []int{200, 599, 200, 599, 200} {
		pi, err := p.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := pi.Process(ctx, batchFor(p, 10, status), 10, nil)
		p.Put(ctx, pi)
		if (err != nil) != (status == 599) {
			t.Fatalf("batch %d (status %d): err %v", i, status, err)
		}
		if err == nil && (len(ds) != 1 || ds[0].Value != 10) {
			t.Fatalf("batch %d: deltas %+v", i, ds)
		}
	}
	if st := p.Stats(); st.Failures != 2 || st.Quarantined {
		t.Errorf("stats %+v", st)
	}
}

func TestBreakerWindow(t *testing.T) {
	now := time.Unix(0, 0)
	b := &host.Breaker{Now: func() time.Time { return now }}
	for i := range 4 {
		if b.Fail(errors.New("x")) {
			t.Fatalf("quarantined after %d failures", i+1)
		}
		now = now.Add(20 * time.Second) // spread over more than a minute
	}
	if b.Fail(errors.New("x")) {
		t.Fatalf("quarantined with failures spread over 80 s")
	}
	for range 2 {
		b.Fail(errors.New("y"))
	}
	if !b.Quarantined() {
		t.Fatalf("not quarantined after 5 failures within a minute: %+v", b.Status())
	}
}

// containsAny reports whether s contains one of the |-separated wants.
func containsAny(s, wants string) bool {
	for _, w := range strings.Split(wants, "|") {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// TestQuarantineFreesInstances: quarantining a pipe closes its idle
// instances at once and a busy one when it is put back, so a pipe that
// never runs again holds no guest memory.
func TestQuarantineFreesInstances(t *testing.T) {
	ctx := context.Background()
	p, err := pipetest.Engine(t).LoadPipe(ctx, "good", wasmFile(t, "good"), host.PipeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	var pis []*host.PipeInstance
	for range 3 {
		pi, err := p.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pis = append(pis, pi)
	}
	p.Put(ctx, pis[0])
	p.Put(ctx, pis[1])
	if n := p.Stats().Instances; n != 3 {
		t.Fatalf("%d instances, want 3", n)
	}
	p.Quarantine("test: too many keys")
	if n := p.Stats().Instances; n != 1 {
		t.Errorf("%d instances after quarantine, want 1 (the busy one)", n)
	}
	p.Put(ctx, pis[2])
	if st := p.Stats(); st.Instances != 0 || !st.Quarantined || st.QuarantineReason != "test: too many keys" {
		t.Errorf("after the busy instance is back: %+v", st)
	}
	if _, err := p.Get(ctx); !errors.Is(err, host.ErrQuarantined) {
		t.Errorf("Get = %v, want ErrQuarantined", err)
	}
}
