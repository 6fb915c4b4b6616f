package relay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/testenv"
)

// cluster is two upstream daemons behind a relay in shard mode, plus a
// reference daemon fed the same pushes directly.
type cluster struct {
	a, b, ref, relay *testenv.Proc
}

func startCluster(t *testing.T) *cluster {
	bin := testenv.BuildCanopyd(t)
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(empty, []byte("{}\n"), 0o644)
	daemon := func() *testenv.Proc {
		return testenv.StartCanopyd(t, bin, "-data", t.TempDir(), "-config", empty, "-snapshot.interval", "500ms", "-pipes.builtin=false", "-pipes", t.TempDir())
	}
	c := &cluster{a: daemon(), b: daemon(), ref: daemon()}
	conf := filepath.Join(t.TempDir(), "relay.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("mode: shard\nupstreams:\n  - url: %s\n  - url: %s\nbatch: {retry: 50ms, max_retry: 500ms}\n", c.a.URL(), c.b.URL())), 0o644)
	c.relay = testenv.StartCanopyd(t, bin, "--relay", "-config", conf, "-data", t.TempDir())
	return c
}

// push posts body to a daemon or relay, retrying until it is acknowledged.
func push(t *testing.T, p *testenv.Proc, body []byte) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Post(p.URL()+"/push", "application/json", bytes.NewReader(body))
		if err == nil {
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			t.Fatalf("push to %s: %s: %s", p.Addr, resp.Status, msg)
		}
		if i > 600 {
			t.Fatalf("push to %s: %v", p.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, p *testenv.Proc, key string) []map[string]float64 {
	t.Helper()
	resp, err := http.Get(p.URL() + "/get/" + key)
	if err != nil {
		t.Fatalf("get %s from %s: %v", key, p.Addr, err)
	}
	defer resp.Body.Close()
	var out []map[string]float64
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("get %s from %s: %v", key, p.Addr, err)
	}
	return out
}

// load builds pushes of 1,000 deltas each over 20 top-level keys.
func load(pushes int) [][]byte {
	var out [][]byte
	for i := 0; i < pushes; i++ {
		obj := map[string]map[string]int{}
		for r := 0; r < 20; r++ {
			m := map[string]int{}
			for k := 0; k < 50; k++ {
				m[fmt.Sprintf("m%02d", k)] = 1 + (i+k)%3
			}
			obj[fmt.Sprintf("k%02d", r)] = m
		}
		b, _ := json.Marshal(obj)
		out = append(out, b)
	}
	return out
}

// waitDrained waits until the relay has every record durable upstream.
func waitDrained(t *testing.T, relay *testenv.Proc, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(relay.URL() + "/status")
		if err == nil {
			var st struct {
				Upstreams []struct {
					UnsentRecords uint64 `json:"unsent_records"`
					Up            bool   `json:"up"`
				} `json:"upstreams"`
			}
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			done := len(st.Upstreams) > 0
			for _, u := range st.Upstreams {
				done = done && u.UnsentRecords == 0 && u.Up
			}
			if done {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("relay did not drain within %v", within)
}

func keysOf(entries []map[string]float64) map[string]bool {
	out := map[string]bool{}
	for _, e := range entries {
		for k := range e {
			out[strings.SplitN(k, ",", 2)[0]] = true
		}
	}
	return out
}

func total(entries []map[string]float64) float64 {
	s := 0.0
	for _, e := range entries {
		for _, v := range e {
			s += v
		}
	}
	return s
}

// TestShardedRelay pushes 1,000,000 deltas over 20 top-level keys through a
// sharding relay: each upstream holds exactly its keys, and /get through the
// relay equals one daemon fed the same pushes.
func TestShardedRelay(t *testing.T) {
	c := startCluster(t)
	pushes := load(1000)
	for _, b := range pushes {
		push(t, c.relay, b)
		push(t, c.ref, b)
	}
	waitDrained(t, c.relay, 2*time.Minute)
	ka, kb := keysOf(get(t, c.a, "")), keysOf(get(t, c.b, ""))
	if len(ka) == 0 || len(kb) == 0 || len(ka)+len(kb) != 20 {
		t.Fatalf("shards hold %d and %d top-level keys, want a split of 20", len(ka), len(kb))
	}
	for k := range ka {
		if kb[k] {
			t.Errorf("key %s is on both shards", k)
		}
	}
	want, err := json.Marshal(get(t, c.ref, ""))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(get(t, c.relay, ""))
	if string(got) != string(want) {
		t.Errorf("/get through the relay differs from a single daemon:\n got %.300s\nwant %.300s", got, want)
	}
	// 1,000 pushes × 1,000 deltas of 1, 2 or 3.
	if n := total(get(t, c.ref, "")); n != 1999980 {
		t.Errorf("reference total %v, want 1999980", n)
	}
	// One exact key goes to one shard only.
	if got, want := get(t, c.relay, "k03,m07"), get(t, c.ref, "k03,m07"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("/get/k03,m07 through relay = %v, want %v", got, want)
	}
}

// TestRelayOutage kills one upstream for a while under load (kill -9, so
// it restarts from its last snapshot), then kills the relay itself with
// kill -9 while it is forwarding: the final counts are exact.
func TestRelayOutage(t *testing.T) {
	outage := 30 * time.Second
	if testing.Short() {
		outage = 3 * time.Second
	}
	c := startCluster(t)
	pushes := load(600)
	start := time.Now()
	for i, b := range pushes {
		switch i {
		case 100:
			c.a.Kill()
			start = time.Now()
		case 400:
			// keep pushing while A is down, then bring it back
			if d := outage - time.Since(start); d > 0 {
				time.Sleep(d)
			}
			c.a.Start()
		case 450:
			c.b.Kill() // B crashes too, and the relay with queued data
			time.Sleep(200 * time.Millisecond)
			c.relay.Kill()
			c.b.Start()
			c.relay.Start()
		}
		push(t, c.relay, b)
		push(t, c.ref, b)
		if i >= 100 && i < 400 {
			time.Sleep(outage / 600) // spread the load over the outage
		}
	}
	waitDrained(t, c.relay, 2*time.Minute)
	got, _ := json.Marshal(get(t, c.relay, ""))
	want, _ := json.Marshal(get(t, c.ref, ""))
	if string(got) != string(want) {
		t.Errorf("after outages, counts through the relay differ from a single daemon:\n got %.400s\nwant %.400s", got, want)
	}
}

// TestRelayPipes runs access-log lines through the pipes at a sharding
// relay: the deltas it forwards add up, across the shards, to what one
// daemon running the same pipes on the same lines holds (averages
// included, which travel with their sample counts).
func TestRelayPipes(t *testing.T) {
	bin := testenv.BuildCanopyd(t)
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	// Capped pipes keep what each shard sees first or most: lift the caps.
	os.WriteFile(empty, []byte(testenv.ExactPipesConfig), 0o644)
	daemon := func() *testenv.Proc {
		return testenv.StartCanopyd(t, bin, "-data", t.TempDir(), "-config", empty, "-pipes", "../../pipes-wasm")
	}
	a, b, ref := daemon(), daemon(), daemon()
	conf := filepath.Join(t.TempDir(), "relay.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("mode: shard\naccesslog: pipes\nupstreams:\n  - url: %s\n  - url: %s\n%s", a.URL(), b.URL(), testenv.ExactPipesConfig)), 0o644)
	relay := testenv.StartCanopyd(t, bin, "--relay", "-config", conf, "-data", t.TempDir(), "-pipes", "../../pipes-wasm")
	lines, _, err := loggen.Lines(loggen.Config{Lines: 20_000, Seed: 7, Format: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(lines); i += 1000 {
		chunk := bytes.Join(lines[i:min(i+1000, len(lines))], nil)
		for _, p := range []*testenv.Proc{relay, ref} {
			resp, err := http.Post(p.URL()+"/push", "text/plain", bytes.NewReader(chunk))
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("push to %s: %s: %s", p.Addr, resp.Status, msg)
			}
		}
	}
	waitDrained(t, relay, 2*time.Minute)
	flat := func(p *testenv.Proc) map[string]any {
		resp, err := http.Get(p.URL() + "/get/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			t.Fatal(err)
		}
		out := map[string]any{}
		for _, e := range list {
			for k, v := range e {
				out[k] = v
			}
		}
		return out
	}
	got, want := flat(relay), flat(ref)
	testenv.DropKeys(testenv.TickKeys, got, want)
	// The relay's workers hand batches to latency's one instance in any
	// order, so which max_paths URLs it keys differs: compare the total.
	testenv.SumKeys("lat,hits,", "lat,hits total", got, want)
	// The url pipe keeps the first max_paths paths each of its instances
	// sees: which ones depends on how lines fall on workers, so only the
	// total of its hits is compared.
	for _, m := range []map[string]any{got, want} {
		sum := 0.0
		for k, v := range m {
			if strings.HasPrefix(k, "url,") {
				sum += v.(float64)
				delete(m, k)
			}
		}
		m["url hits"] = sum
	}
	if len(want) < 50 {
		t.Fatalf("reference holds only %d keys: are the pipes running?", len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		wf, wok := w.(float64)
		gf, gok := g.(float64)
		switch {
		case !ok:
			t.Errorf("%s: missing through the relay (want %v)", k, w)
		case wok && gok && math.Abs(gf-wf) > 1e-9*math.Max(1, math.Abs(wf)):
			t.Errorf("%s = %v through the relay, want %v", k, g, w)
		case !wok && fmt.Sprint(g) != fmt.Sprint(w):
			t.Errorf("%s = %v through the relay, want %v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: through the relay only", k)
		}
	}
}
