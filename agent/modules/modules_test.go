package modules

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/agent/pyconf"
	"github.com/canopy-dev/canopy/sdk/collectorabi"
	"github.com/canopy-dev/canopy/sdk/host"
)

// systemModules configures the /proc modules on this machine.
const systemModules = `modules {
  module { name = "cpu" path = "builtin.wasm" grant { read = "/proc" } }
  module { name = "mem" path = "builtin.wasm" grant { read = "/proc" } }
  module { name = "load" path = "builtin.wasm" grant { read = "/proc" } }
  module { name = "net" path = "builtin.wasm" grant { read = "/proc" } }
  module { name = "disk" path = "builtin.wasm" grant { read = "/proc" statfs = "/" } }
}`

// builtinDir is where the committed built-in modules live.
const builtinDir = "../../pipes-wasm/modules"

func newRuntime(t testing.TB) *Runtime {
	t.Helper()
	eng, err := host.NewEngine(filepath.Join(os.TempDir(), "canopy-agent-test-cache"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return New(Options{Dir: builtinDir, Engine: eng, Logf: t.Logf})
}

func conf(t testing.TB, src string) []pyconf.Module {
	t.Helper()
	c, err := pyconf.ParseConfig("test.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c.Modules
}

func all(m *Module) []uint32 {
	idx := make([]uint32, len(m.Metrics))
	for i := range idx {
		idx[i] = uint32(i)
	}
	return idx
}

func values(t *testing.T, m *Module) map[string]collectorabi.MetricValue {
	t.Helper()
	v, err := m.Values(context.Background(), all(m))
	if err != nil {
		t.Fatalf("%s: %v", m.Name(), err)
	}
	out := map[string]collectorabi.MetricValue{}
	for i, x := range v.Values {
		out[m.Metrics[i].Name] = x
	}
	return out
}

func TestBuiltinSystemModules(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	mods := rt.Load(ctx, conf(t, systemModules))
	defer Close(ctx, mods)
	for _, m := range mods {
		if m.Err != nil {
			t.Fatalf("%s: %v", m.Name(), m.Err)
		}
	}
	cpu := values(t, mods[0])
	var sum float64
	for k, v := range cpu {
		if v.Kind != collectorabi.ValueNumber {
			t.Fatalf("cpu %s: %+v", k, v)
		}
		sum += v.Number
	}
	if sum < 99.9 || sum > 100.1 {
		t.Errorf("cpu percentages sum to %v", sum)
	}
	if mem := values(t, mods[1]); mem["total"].Number <= 0 {
		t.Errorf("mem total = %+v", mem["total"])
	}
	if n := values(t, mods[2])["cpu_num"].Number; n < 1 {
		t.Errorf("load cpu_num = %v", n)
	}
	net := values(t, mods[3])
	if _, ok := net["lo/rx_bytes"]; !ok {
		t.Errorf("net has no lo/rx_bytes: %v", net)
	}
	for i := 0; i < 50; i++ {
		for _, m := range mods {
			values(t, m)
		}
	}
	t.Logf("linear memory after 50 rounds: %d KB", mods[0].Status().MemoryBytes>>10)
	disk := values(t, mods[4])
	if disk["space/root/total"].Number <= 0 {
		t.Errorf("disk space/root/total = %+v", disk["space/root/total"])
	}
}

func TestGrantsAreEnforced(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()
	mods := rt.Load(ctx, conf(t, `modules {
  module { name = "cpu" path = "builtin.wasm" }
  module { name = "url" path = "builtin.wasm" param ok { value = "`+srv.URL+`/ok" } param no { value = "`+srv.URL+`/no" }
           grant { http_get = "`+srv.URL+`/ok" } }
  module { name = "disk" path = "builtin.wasm" param devices { value = "none" } grant { statfs = "/tmp" } }
}`))
	defer Close(ctx, mods)
	// No /proc grant: cpu cannot even take its baseline.
	if mods[0].Err == nil || !strings.Contains(mods[0].Err.Error(), "proc") {
		t.Errorf("cpu without a grant: err = %v", mods[0].Err)
	}
	u := values(t, mods[1])
	if u["ok/status"].Number != 200 || u["ok/bytes"].Number != 5 {
		t.Errorf("granted URL: %+v", u)
	}
	if u["no/status"].Kind != collectorabi.ValueMissing || !strings.Contains(u["no/status"].Text, "not granted") {
		t.Errorf("URL outside the grant: %+v", u["no/status"])
	}
	d := values(t, mods[2])
	if d["space/root/total"].Kind != collectorabi.ValueMissing {
		t.Errorf("statfs of / without a grant: %+v", d["space/root/total"])
	}
}

func TestTailForwardsLines(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "access.log")
	os.WriteFile(log, []byte("old line\n"), 0o644)
	mods := rt.Load(ctx, conf(t, `modules { module { name = "accesslog" path = "builtin.wasm"
  param path { value = "`+log+`" } grant { tail = "`+log+`" } } }`))
	defer Close(ctx, mods)
	m := mods[0]
	if m.Err != nil {
		t.Fatal(m.Err)
	}
	v, err := m.Values(ctx, all(m)) // first read: starts at the end
	if err != nil || len(v.Forward) != 0 {
		t.Fatalf("first read: %v, %q", err, v.Forward)
	}
	f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("one\ntwo\nthr")
	f.Close()
	v, _ = m.Values(ctx, all(m))
	if strings.Join(v.Forward, "|") != "one|two" {
		t.Errorf("forwarded %q, want one|two", v.Forward)
	}
	// Rotation: the rest of the old file, then the new one from its start.
	f, _ = os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("ee\n")
	f.Close()
	os.Rename(log, log+".1")
	os.WriteFile(log, []byte("four\n"), 0o644)
	v, _ = m.Values(ctx, all(m))
	if strings.Join(v.Forward, "|") != "three|four" {
		t.Errorf("after rotation forwarded %q, want three|four", v.Forward)
	}
}

func TestBadFileIsReported(t *testing.T) {
	rt := newRuntime(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "junk.wasm"), []byte("not wasm"), 0o644)
	mods := rt.Load(context.Background(), conf(t, `modules { module { name = "x" path = "`+dir+`/junk.wasm" } module { name = "y" path = "missing.wasm" } }`))
	if mods[0].Err == nil || mods[1].Err == nil {
		t.Errorf("errors = %v, %v", mods[0].Err, mods[1].Err)
	}
}

// A module written in C against the collector ABI spec (sdk/collectorabi/README.md) alone runs like a Go one.
func TestCModule(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	mods := rt.Load(ctx, conf(t, `modules { module { name = "cpu" path = "../../sdk/collector/example/c-cpu/cpu.wasm" grant { read = "/proc" } } }`))
	defer Close(ctx, mods)
	m := mods[0]
	if m.Err != nil {
		t.Fatal(m.Err)
	}
	if len(m.Metrics) != 8 || m.Metrics[0].Name != "user" {
		t.Fatalf("metrics = %+v", m.Metrics)
	}
	var sum float64
	for _, v := range values(t, m) {
		if v.Kind != collectorabi.ValueNumber {
			t.Fatalf("value %+v", v)
		}
		sum += v.Number
	}
	if sum < 99.9 || sum > 100.1 {
		t.Errorf("percentages sum to %v", sum)
	}
}
