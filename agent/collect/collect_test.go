package collect

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/agent/modules"
	"github.com/canopy-dev/canopy/agent/push"
	"github.com/canopy-dev/canopy/agent/pyconf"
	"github.com/canopy-dev/canopy/sdk/collectorabi"
	"github.com/canopy-dev/canopy/sdk/host"
)

func TestThresholds(t *testing.T) {
	t0 := time.Unix(0, 0)
	tk := &task{thresh: time.Minute, rules: []pyconf.MetricRule{{ValueThreshold: 1}}, last: make([]sent, 1)}
	num := func(v float64) collectorabi.MetricValue {
		return collectorabi.MetricValue{Kind: collectorabi.ValueNumber, Number: v}
	}
	steps := []struct {
		at         time.Duration
		v          float64
		want, meta bool // sent, with the units
	}{
		{0, 10, true, true},                    // first value
		{10 * time.Second, 10.5, false, false}, // within the threshold
		{20 * time.Second, 11.2, true, false},  // moved 1.2 from the last sent (10)
		{30 * time.Second, 10.5, false, false}, // 0.7 from 11.2
		{80 * time.Second, 10.5, true, true},   // time_threshold since 20 s
	}
	for _, s := range steps {
		if got, meta := tk.due(0, num(s.v), t0.Add(s.at)); got != s.want || meta != s.meta {
			t.Errorf("at %v value %v: due = %v, %v, want %v, %v", s.at, s.v, got, meta, s.want, s.meta)
		}
	}
	zero := &task{thresh: time.Minute, rules: []pyconf.MetricRule{{}}, last: make([]sent, 1)}
	zero.due(0, num(1), t0)
	if d, _ := zero.due(0, num(1), t0.Add(time.Second)); d {
		t.Errorf("value_threshold 0 should send only changes")
	}
	if d, _ := zero.due(0, num(1.0001), t0.Add(2*time.Second)); !d {
		t.Errorf("value_threshold 0 should send any change and only changes")
	}
}

func TestInsert(t *testing.T) {
	obj := map[string]any{}
	insert(obj, []string{"net", "h", "eth0", "rx"}, 1.0, "")
	insert(obj, []string{"net", "h", "eth0"}, 2.0, "")
	insert(obj, []string{"net", "h", "lo"}, 3.0, "")
	insert(obj, []string{"net", "h", "lo", "tx"}, 4.0, "")
	insert(obj, []string{"net", "h", "up"}, 5.0, "s")
	insert(obj, []string{"net", "h", "lo", "rx"}, 6.0, "bytes")
	want := map[string]any{"net": map[string]any{"h": map[string]any{
		"eth0": map[string]any{"rx": 1.0, "": 2.0},
		"lo":   map[string]any{"": 3.0, "tx": 4.0, "rx": map[string]any{"": 6.0, "defaultunit": "bytes"}},
		"up":   map[string]any{"": 5.0, "defaultunit": "s"},
	}}}
	if !reflect.DeepEqual(obj, want) {
		t.Errorf("insert = %v, want %v", obj, want)
	}
}

func newAgent(t *testing.T, dir string, sink func(push.Batch) error) *Agent {
	eng, err := host.NewEngine(filepath.Join(os.TempDir(), "canopy-agent-test-cache"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	rt := modules.New(modules.Options{Dir: "../../pipes-wasm/modules", Engine: eng, Logf: t.Logf})
	return New(Options{Host: "web1", ConfigsDir: dir, Runtime: rt, Sink: sink, Logf: t.Logf, Every: time.Second})
}

func TestRoundAndSwitching(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("load.conf", `modules { module { name = "load" path = "builtin.wasm" grant { read = "/proc" } } }
collection_group { collect_every = 10 time_threshold = 60 metric { name = "one" } metric { name = "cpu_num" } }`)
	write("mem.conf.off", `modules { module { name = "mem" path = "builtin.wasm" grant { read = "/proc" } } }`)
	var batches []push.Batch
	a := newAgent(t, dir, func(b push.Batch) error { batches = append(batches, b); return nil })
	ctx := context.Background()
	defer func() { modules.Close(ctx, a.mods) }()
	a.reload(ctx)
	if len(a.mods) != 1 || len(a.tasks) != 1 || len(a.tasks[0].idx) != 2 {
		t.Fatalf("mods %d, tasks %d; want 1 module with 2 metrics", len(a.mods), len(a.tasks))
	}
	now := time.Now()
	if err := a.Round(ctx, now); err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 || len(batches[0].JSON) != 1 {
		t.Fatalf("batches = %v", batches)
	}
	// The first send carries the module's Ganglia units as defaultunit.
	var obj map[string]map[string]map[string]any
	var action struct {
		DefaultAction string `json:"defaultaction"`
	}
	json.Unmarshal(batches[0].JSON[0], &action)
	var raw map[string]json.RawMessage
	json.Unmarshal(batches[0].JSON[0], &raw)
	json.Unmarshal([]byte(`{"load":`+string(raw["load"])+`}`), &obj)
	cpus, _ := obj["load"]["web1"]["cpu_num"].(map[string]any)
	if n, _ := cpus[""].(float64); action.DefaultAction != "average" || n < 1 || cpus["defaultunit"] != "CPUs" {
		t.Errorf("push = %s, want load,web1,cpu_num ≥ 1 with defaultunit CPUs", batches[0].JSON[0])
	}
	if _, ok := obj["load"]["web1"]["five"]; ok {
		t.Errorf("a metric outside the collection group was sent")
	}
	// Switch mem on and load off: both take effect on the next check.
	os.Rename(filepath.Join(dir, "mem.conf.off"), filepath.Join(dir, "mem.conf"))
	os.Rename(filepath.Join(dir, "load.conf"), filepath.Join(dir, "load.conf.off"))
	a.reload(ctx)
	if len(a.mods) != 1 || a.mods[0].Name() != "mem" {
		t.Fatalf("after switching: modules %v", a.mods)
	}
	batches = nil
	a.Round(ctx, time.Now())
	if len(batches) != 1 {
		t.Fatalf("mem round: %v", batches)
	}
	json.Unmarshal(batches[0].JSON[0], &raw)
	if _, ok := raw["mem"]; !ok {
		t.Errorf("mem push = %s", batches[0].JSON[0])
	}
}

func TestBadConfigIsSkipped(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.conf"), []byte("modules { module { name = } }"), 0o644)
	os.WriteFile(filepath.Join(dir, "load.conf"), []byte(`modules { module { name = "load" path = "builtin.wasm" grant { read = "/proc" } } }`), 0o644)
	a := newAgent(t, dir, func(push.Batch) error { return nil })
	ctx := context.Background()
	defer func() { modules.Close(ctx, a.mods) }()
	a.reload(ctx)
	if len(a.mods) != 1 || len(a.tasks) != 1 {
		t.Errorf("mods %d tasks %d; want the good config loaded", len(a.mods), len(a.tasks))
	}
}

func TestOnce(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cpu.conf"), []byte(`modules { module { name = "cpu" path = "builtin.wasm" grant { read = "/proc" } } }`), 0o644)
	var got []push.Batch
	a := newAgent(t, dir, func(b push.Batch) error { got = append(got, b); return nil })
	if err := a.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.Contains(string(got[0].JSON[0]), `"cpu":{"web1":{`) {
		t.Errorf("once = %v", got)
	}
	os.WriteFile(filepath.Join(dir, "cpu.conf"), []byte(`modules { module { name = "cpu" path = "builtin.wasm" } }`), 0o644)
	if err := New(a.opt).Once(context.Background()); err == nil || !strings.Contains(err.Error(), "module cpu") {
		t.Errorf("once without the /proc grant: %v", err)
	}
}

// TestRunWatchesConfigs: with polling as good as off (Rescan an hour), a
// config switched on is still loaded: Run watches the folder.
func TestRunWatchesConfigs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mem.conf.off"), []byte(`modules { module { name = "mem" path = "builtin.wasm" grant { read = "/proc" } } }`), 0o644)
	os.WriteFile(filepath.Join(dir, "load.conf"), []byte(`modules { module { name = "load" path = "builtin.wasm" grant { read = "/proc" } } }`), 0o644)
	got := make(chan push.Batch, 100)
	a := newAgent(t, dir, func(b push.Batch) error { got <- b; return nil })
	a.opt.Rescan = time.Hour
	loaded := make(chan bool, 10)
	a.opt.Logf = func(f string, args ...any) {
		t.Logf(f, args...)
		if strings.HasPrefix(f, "loaded") {
			loaded <- true
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-loaded // the first read: load only
	os.Rename(filepath.Join(dir, "mem.conf.off"), filepath.Join(dir, "mem.conf"))
	deadline := time.After(30 * time.Second)
	for {
		select {
		case b := <-got:
			for _, j := range b.JSON {
				if strings.Contains(string(j), `"mem"`) {
					return
				}
			}
		case <-deadline:
			t.Fatal("mem.conf was not loaded")
		}
	}
}
