package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/agent/modules"
	"github.com/canopy-dev/canopy/agent/pyconf"
	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

func readConf(t testing.TB, name string) string {
	b, err := os.ReadFile("../conf/agent.d/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Acceptance: daemon + agent on loopback; within 3 collection intervals
// cpu,<host>,*, mem,<host>,* and net,<host>,* appear, and the cpu
// percentages sum to ~100. The example configs of conf/agent.d are used.
func TestAgentFeedsDaemon(t *testing.T) {
	addr := testenv.FreePort(t)
	daemon(t, addr, filepath.Join(t.TempDir(), "data"))
	s := newAgentSetup(t, map[string]string{
		"cpu.conf": readConf(t, "cpu.conf"), "mem.conf": readConf(t, "mem.conf"), "net.conf": readConf(t, "net.conf"),
	})
	const every = 2 * time.Second
	a := s.start(t, "http://"+addr, every, "")
	loaded := waitLog(t, a, 2*time.Minute, "loaded 3 modules")
	waitFor(t, 3*every+time.Second, "cpu, mem and net in the tree", func() bool {
		return len(get(t, addr, "cpu,testhost")) > 0 && len(get(t, addr, "mem,testhost")) > 0 && len(get(t, addr, "net,testhost")) > 0
	})
	t.Logf("cpu, mem and net appeared %v after the modules loaded (interval %v)", time.Since(loaded).Round(time.Millisecond), every)
	// Let a few rounds merge, then check the percentages.
	time.Sleep(2 * every)
	cpu := get(t, addr, "cpu,testhost")
	var sum float64
	for _, f := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"} {
		v, ok := cpu["cpu,testhost,"+f]
		if !ok {
			t.Errorf("cpu,testhost,%s is missing: %v", f, cpu)
		}
		sum += v
	}
	t.Logf("cpu percentages: %v, sum %.2f", cpu, sum)
	if math.Abs(sum-100) > 3 {
		t.Errorf("cpu percentages sum to %.2f, want ~100", sum)
	}
	mem := get(t, addr, "mem,testhost")
	if mem["mem,testhost,total"] <= 0 || mem["mem,testhost,used_percent"] <= 0 {
		t.Errorf("mem = %v", mem)
	}
	net := get(t, addr, "net,testhost,lo")
	if _, ok := net["net,testhost,lo,rx_bytes"]; !ok {
		t.Errorf("net,testhost,lo = %v", net)
	}
}

// startNginx runs a real nginx on a loopback port with stub_status at
// /nginx_status and a 612-byte page at /.
func startNginx(t testing.TB) string {
	bin := testenv.NeedCommand(t, "nginx", "nginx")
	dir := t.TempDir()
	addr := testenv.FreePort(t)
	os.MkdirAll(filepath.Join(dir, "www"), 0o755)
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	os.WriteFile(filepath.Join(dir, "www", "index.html"), []byte(strings.Repeat("x", 611)+"\n"), 0o644)
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events { worker_connections 64; }
http {
  access_log %[1]s/logs/access.log;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
  server {
    listen %[2]s;
    root %[1]s/www;
    location = /nginx_status { stub_status; }
  }
}
`, dir, addr)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644)
	start(t, "nginx", dir, bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "logs", "error.log"))
	waitFor(t, 20*time.Second, "nginx to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return addr
}

// Acceptance: with a real nginx, the nginx module's requests rises by
// exactly the requests sent (plus the module's own status request); the
// url module reports status and TTFB of a local URL, through the agent
// into the tree.
func TestNginxAndURLModules(t *testing.T) {
	ngx := startNginx(t)
	status := "http://" + ngx + "/nginx_status"
	page := "http://" + ngx + "/"

	t.Run("requests rise exactly", func(t *testing.T) {
		eng, err := host.NewEngine(cacheDir())
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		rt := modules.New(modules.Options{Dir: "../pipes-wasm/modules", Engine: eng, Logf: t.Logf})
		c, err := pyconf.ParseConfig("nginx.conf", []byte(`modules { module { name = "nginx" path = "builtin.wasm"
  param url { value = "`+status+`" } grant { http_get = "`+status+`" } } }`))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		mods := rt.Load(ctx, c.Modules)
		defer modules.Close(ctx, mods)
		m := mods[0]
		if m.Err != nil {
			t.Fatal(m.Err)
		}
		requests := func() float64 {
			for i, d := range m.Metrics {
				if d.Name == "requests" {
					v, err := m.Values(ctx, []uint32{uint32(i)})
					if err != nil || v.Values[0].Kind != 1 {
						t.Fatalf("requests: %v %+v", err, v)
					}
					return v.Values[0].Number
				}
			}
			t.Fatal("no requests metric")
			return 0
		}
		before := requests()
		const sent = 37
		for i := 0; i < sent; i++ {
			resp, err := http.Get(page)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		after := requests()
		// nginx counts the status request that reads the counter too.
		if got := after - before; got != sent+1 {
			t.Errorf("requests rose by %v after %d requests, want %d (+1 for the status request itself)", got, sent, sent+1)
		}
		t.Logf("requests %v -> %v after %d requests", before, after, sent)
	})

	t.Run("through the agent", func(t *testing.T) {
		addr := testenv.FreePort(t)
		daemon(t, addr, filepath.Join(t.TempDir(), "data"))
		s := newAgentSetup(t, map[string]string{
			"nginx.conf": `modules { module { name = "nginx" path = "builtin.wasm" param url { value = "` + status + `" }
  grant { http_get = "` + status + `" } } }
collection_group { collect_every = 10 time_threshold = 60 metric { name_match = ".*" } }`,
			"url.conf": `modules { module { name = "url" path = "builtin.wasm" param home { value = "` + page + `" }
  grant { http_get = "` + page + `" } } }
collection_group { collect_every = 10 time_threshold = 60 metric { name_match = ".*" } }`,
		})
		s.start(t, "http://"+addr, time.Second, "")
		waitFor(t, 2*time.Minute, "url and nginx in the tree", func() bool {
			return len(get(t, addr, "url,testhost,home")) >= 5 && len(get(t, addr, "nginx,testhost")) == 7
		})
		u := get(t, addr, "url,testhost,home")
		t.Logf("url: %v", u)
		if u["url,testhost,home,status"] != 200 || u["url,testhost,home,bytes"] != 612 || u["url,testhost,home,up"] != 1 {
			t.Errorf("url = %v", u)
		}
		if ttfb := u["url,testhost,home,ttfb_ms"]; ttfb <= 0 || ttfb > u["url,testhost,home,total_ms"]+1e-9 || ttfb > 1000 {
			t.Errorf("ttfb_ms = %v (total %v)", ttfb, u["url,testhost,home,total_ms"])
		}
		n := get(t, addr, "nginx,testhost")
		if n["nginx,testhost,requests"] < 1 || n["nginx,testhost,active"] < 1 {
			t.Errorf("nginx = %v", n)
		}
	})
}

// Acceptance: Debian's gmond on loopback with a test config; its metrics
// (load_one) reach the tree through the agent's gmond bridge.
func TestGangliaBridge(t *testing.T) {
	bin := testenv.NeedCommand(t, "gmond", "ganglia-monitor")
	dir := t.TempDir()
	tcp := testenv.FreePort(t)
	udp := testenv.FreePort(t)
	_, tcpPort, _ := strings.Cut(tcp, ":")
	_, udpPort, _ := strings.Cut(udp, ":")
	conf := fmt.Sprintf(`globals {
  daemonize = no
  setuid = no
  debug_level = 0
  max_udp_msg_len = 1472
  mute = no
  deaf = no
  allow_extra_data = yes
  host_dmax = 0
  cleanup_threshold = 300
  gexec = no
  send_metadata_interval = 1
  module_dir = "%[3]s"
}
cluster { name = "canopy-test" }
host { location = "loopback" }
udp_send_channel { host = 127.0.0.1 port = %[1]s ttl = 1 }
udp_recv_channel { bind = 127.0.0.1 port = %[1]s }
tcp_accept_channel { bind = 127.0.0.1 port = %[2]s }
modules {
  module { name = "core_metrics" }
  module { name = "load_module" path = "modload.so" }
  module { name = "cpu_module" path = "modcpu.so" }
}
collection_group {
  collect_every = 1
  time_threshold = 2
  metric { name = "load_one" value_threshold = "-1" title = "One Minute Load Average" }
  metric { name = "cpu_user" value_threshold = "-1" title = "CPU User" }
}
`, udpPort, tcpPort, gangliaModuleDir(t))
	os.WriteFile(filepath.Join(dir, "gmond.conf"), []byte(conf), 0o644)
	start(t, "gmond", dir, bin, "-c", filepath.Join(dir, "gmond.conf"), "-f")

	addr := testenv.FreePort(t)
	daemon(t, addr, filepath.Join(t.TempDir(), "data"))
	s := newAgentSetup(t, nil)
	s.start(t, "http://"+addr, time.Second, fmt.Sprintf("gmond:\n  - addr: %s\n    every: 1s\n", tcp))
	var got map[string]float64
	waitFor(t, time.Minute, "ganglia,canopy-test,*,load_one in the tree", func() bool {
		got = get(t, addr, "ganglia,canopy-test,*,load_one")
		return len(got) > 0
	})
	t.Logf("from gmond: %v", got)
	for k, v := range got {
		if v < 0 || v > 1000 {
			t.Errorf("%s = %v", k, v)
		}
	}
}

// Acceptance: the daemon stops for 30 s while the agent runs; after the
// restart no sample of that window is missing. The heartbeat example module
// (built here from sdk/collector/example) pushes one beat per collection
// with defaultaction add, so the tree's count must equal the agent's
// collection rounds.
func TestOutageLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 45 s")
	}
	s := newAgentSetup(t, nil)
	if err := pipetest.BuildWASM("../sdk/collector/example/heartbeat", filepath.Join(s.modules, "heartbeat.wasm")); err != nil {
		t.Fatal(err)
	}
	hb, err := os.ReadFile("../sdk/collector/example/heartbeat/heartbeat.conf")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.configs, "heartbeat.conf"), hb, 0o644)

	addr := testenv.FreePort(t)
	data := filepath.Join(t.TempDir(), "data")
	d := daemon(t, addr, data)
	a := s.start(t, "http://"+addr, time.Second, "")
	waitFor(t, 2*time.Minute, "heartbeats", func() bool { return get(t, addr, "heartbeat,testhost,beats")["heartbeat,testhost,beats"] >= 3 })
	d.stop()
	down := time.Now()
	time.Sleep(30 * time.Second)
	buffered, _ := filepath.Glob(filepath.Join(s.dir, "buffer", "*.batch"))
	t.Logf("daemon down for %v; %d batches buffered", time.Since(down).Round(time.Second), len(buffered))
	if len(buffered) < 25 {
		t.Errorf("only %d batches buffered during a 30 s outage at 1 s intervals", len(buffered))
	}
	daemon(t, addr, data)
	waitLog(t, a, 30*time.Second, "pushing to http://"+addr+" again")
	time.Sleep(3 * time.Second)
	a.stop()
	line := logLine(a, "stopped:")
	var sent, dropped, pending, rounds int
	if _, err := fmt.Sscanf(line[strings.Index(line, "stopped:"):], "stopped: %d batches sent, %d dropped, %d pending, %d collection rounds", &sent, &dropped, &pending, &rounds); err != nil {
		t.Fatalf("cannot read the agent's summary %q: %v", line, err)
	}
	beats := get(t, addr, "heartbeat,testhost,beats")["heartbeat,testhost,beats"]
	t.Logf("agent: %d rounds, %d batches sent, %d dropped, %d pending; tree: %v beats", rounds, sent, dropped, pending, beats)
	if dropped != 0 || pending != 0 {
		t.Errorf("dropped %d, pending %d; want 0, 0", dropped, pending)
	}
	if int(beats) != rounds {
		t.Errorf("tree counted %v beats, the agent collected %d rounds: %d samples missing", beats, rounds, rounds-int(beats))
	}
}

// gangliaModuleDir finds Debian's gmond metric modules (modload.so …).
func gangliaModuleDir(t testing.TB) string {
	m, _ := filepath.Glob("/usr/lib/*/ganglia/modload.so")
	m2, _ := filepath.Glob("/usr/lib*/ganglia/modload.so")
	m = append(m, m2...)
	if len(m) == 0 {
		t.Fatal("cannot find gmond's modload.so under /usr/lib")
	}
	return filepath.Dir(m[0])
}

// The accesslog module tails a log and forwards its new lines; canopyd's
// pipes (the repository's pipes-wasm) turn them into the tree.
func TestAccessLogThroughDaemonPipes(t *testing.T) {
	// Only the status pipe: compiling all of them takes a minute on a
	// busy machine.
	pipesDir := t.TempDir()
	b, err := os.ReadFile("../pipes-wasm/status.wasm")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(pipesDir, "status.wasm"), b, 0o644)
	addr := testenv.FreePort(t)
	daemon(t, addr, filepath.Join(t.TempDir(), "data"), "-pipes.builtin=false", "-pipes", pipesDir, "-pipes.cache", filepath.Join(pipetest.CacheDir(), "daemon"))
	log := filepath.Join(t.TempDir(), "access.log")
	os.WriteFile(log, []byte("127.0.0.1 - - [26/Nov/2026:10:00:00 +0000] \"GET /old HTTP/1.1\" 418 1 \"-\" \"curl/8\"\n"), 0o644)
	s := newAgentSetup(t, map[string]string{"accesslog.conf": `modules { module { name = "accesslog" path = "builtin.wasm"
  param path { value = "` + log + `" } grant { tail = "` + log + `" } } }
collection_group { collect_every = 1 time_threshold = 60 metric { name = "lines" } }`})
	a := s.start(t, "http://"+addr, time.Second, "")
	waitLog(t, a, 2*time.Minute, "loaded 1 modules")
	time.Sleep(1500 * time.Millisecond) // the first read starts at the end: the 418 line stays out
	f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	for i := 0; i < 5; i++ {
		fmt.Fprintf(f, "127.0.0.1 - - [26/Nov/2026:10:00:0%d +0000] \"GET /teapot HTTP/1.1\" 404 12 \"-\" \"Mozilla/5.0\"\n", i)
	}
	f.Close()
	var got map[string]float64
	waitFor(t, time.Minute, "status,404 from the pipes", func() bool {
		got = get(t, addr, "status")
		return got["status,404"] == 5
	})
	if _, ok := got["status,418"]; ok {
		t.Errorf("a line written before the agent started was forwarded: %v", got)
	}
	t.Logf("status: %v", got)
}

// The agent pushes through a relay (canopyd --relay) as it does to a
// daemon: the relay forwards to the daemon it names.
func TestThroughRelay(t *testing.T) {
	addr := testenv.FreePort(t)
	daemon(t, addr, filepath.Join(t.TempDir(), "data"))
	relayAddr := testenv.FreePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "relay.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listen: %s\nupstreams:\n  - url: http://%s\nmode: replicate\n", relayAddr, addr)), 0o644)
	bin, _ := binaries(t)
	start(t, "relay", dir, bin, "-relay", "-config", conf, "-listen", relayAddr, "-data", filepath.Join(dir, "data"))
	waitFor(t, time.Minute, "the relay to answer", func() bool {
		resp, err := http.Get("http://" + relayAddr + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	s := newAgentSetup(t, map[string]string{"load.conf": readConf(t, "load.conf")})
	s.start(t, "http://"+relayAddr, time.Second, "")
	waitFor(t, 2*time.Minute, "load,testhost,* on the daemon behind the relay", func() bool {
		return get(t, addr, "load,testhost")["load,testhost,cpu_num"] >= 1
	})
}

// tcp:// pushes JSON lines to a canopyd listener of format json.
func TestPushOverTCP(t *testing.T) {
	addr := testenv.FreePort(t)
	tcp := testenv.FreePort(t)
	data := filepath.Join(t.TempDir(), "data")
	os.WriteFile(filepath.Join(filepath.Dir(data), "canopyd.yaml"),
		[]byte(fmt.Sprintf("listeners:\n  - {proto: tcp, listen: %q, format: json}\n", tcp)), 0o644)
	daemon(t, addr, data)
	s := newAgentSetup(t, map[string]string{"load.conf": readConf(t, "load.conf")})
	s.start(t, "tcp://"+tcp, time.Second, "")
	waitFor(t, 2*time.Minute, "load,testhost,* pushed over TCP", func() bool {
		return get(t, addr, "load,testhost")["load,testhost,cpu_num"] >= 1
	})
}
