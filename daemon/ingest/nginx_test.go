package ingest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// The user agents the client sends and the browser keys they must land on.
var nginxAgents = []struct{ ua, key string }{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "br,chrome,120"},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "br,firefox,121"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "br,safari,17"},
	{"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; SE 2.X MetaSr 1.0)", "br,ie,7"},
	{"curl/8.5.0", "br,bot,curl"},
}

// nginx paths and the status the upstream answers.
var nginxPaths = []struct {
	path   string
	status int
}{{"/", 200}, {"/product/1", 200}, {"/missing", 404}, {"/boom", 500}, {"/created", 201}}

// TestNginxEndToEnd runs a real nginx on loopback proxying to a local
// upstream, logging to a file canopyd follows and, with the same
// log_format, over syslog to canopyd's UDP listener (under prefix "sys").
// Both trees must count exactly what the client sent.
func TestNginxEndToEnd(t *testing.T) {
	nginx := testenv.NeedCommand(t, "nginx", "nginx")
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // nginx workers may run as nobody

	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range nginxPaths {
			if p.path == r.URL.Path {
				time.Sleep(time.Millisecond) // a measurable $upstream_response_time
				w.WriteHeader(p.status)
				io.WriteString(w, "hello from upstream\n")
				return
			}
		}
		w.WriteHeader(http.StatusTeapot)
	})}
	ul, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go upstream.Serve(ul)
	defer upstream.Close()

	// canopyd: follows the file, listens for syslog.
	syslogAddr := freeUDP(t)
	logPath := filepath.Join(dir, "access.log")
	conf := fmt.Sprintf("listeners:\n  - {proto: udp, listen: %q, format: syslog, prefix: sys}\n", syslogAddr)
	d := startDaemon(t, filepath.Join(dir, "data"), wasmCache(t), conf,
		"-log", logPath, "-log.format", nginxFormat)

	nginxAddr := testenv.FreePort(t)
	nconf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
  log_format timed '%[2]s';
  access_log %[1]s/access.log timed;
  access_log syslog:server=%[3]s,tag=nginx timed;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream app { server %[4]s; keepalive 16; }
  server {
    listen %[5]s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, dir, nginxFormat, syslogAddr, ul.Addr(), nginxAddr)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(nconf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	if !waitHTTP("http://"+nginxAddr+"/", 20*time.Second) {
		errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("nginx did not come up: %s\n%s", out, errLog)
	}
	// waitHTTP sent one request; count it like the others.
	sentStatus := map[int]int{200: 1}
	sentBrowser := map[string]int{"br,bot,go": 1}

	// The client: a known mix, 8 connections at once.
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan int)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var failed error
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				a, p := nginxAgents[i%len(nginxAgents)], nginxPaths[(i/len(nginxAgents))%len(nginxPaths)]
				req, _ := http.NewRequest("GET", "http://"+nginxAddr+p.path, nil)
				req.Header.Set("User-Agent", a.ua)
				resp, err := client.Do(req)
				mu.Lock()
				if err != nil {
					failed = err
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					sentStatus[resp.StatusCode]++
					sentBrowser[a.key]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if failed != nil {
		t.Fatalf("client: %v", failed)
	}
	total := n + 1

	for _, prefix := range []string{"", "sys,"} {
		name := "file"
		if prefix != "" {
			name = "syslog"
		}
		deadline := time.Now().Add(60 * time.Second)
		var got map[string]any
		for time.Now().Before(deadline) {
			got = d.flat(prefix + "**")
			if v, _ := got[prefix+"requests"].(float64); int(v) >= total {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		check := func(key string, want int) {
			if v, _ := got[prefix+key].(float64); int(v) != want {
				t.Errorf("%s: %s = %v, want %d", name, prefix+key, got[prefix+key], want)
			}
		}
		check("requests", total)
		for code, c := range sentStatus {
			check(fmt.Sprintf("status,%d", code), c)
		}
		for key, c := range sentBrowser {
			check(key, c)
		}
		// Nothing else under status or br (venders are sub-counts).
		for k, v := range got {
			rest := strings.TrimPrefix(k, prefix)
			if strings.HasPrefix(rest, "status,") {
				code := 0
				fmt.Sscanf(strings.TrimPrefix(rest, "status,"), "%d", &code)
				if sentStatus[code] == 0 {
					t.Errorf("%s: unexpected %s = %v", name, k, v)
				}
			}
			if strings.HasPrefix(rest, "br,") && !strings.Contains(rest, ",venders,") && sentBrowser[rest] == 0 {
				t.Errorf("%s: unexpected %s = %v", name, k, v)
			}
		}
		if v, _ := got[prefix+"br,ie,7,venders,sogou"].(float64); int(v) != sentBrowser["br,ie,7"] {
			t.Errorf("%s: br,ie,7,venders,sogou = %v, want %d", name, v, sentBrowser["br,ie,7"])
		}
		if v, _ := got[prefix+"upstream,avg"].(float64); v <= 0 {
			t.Errorf("%s: upstream,avg = %v, want > 0", name, got[prefix+"upstream,avg"])
		}
		t.Logf("%s: requests=%v status=%v upstream,avg=%v reqtime,avg=%v", name, got[prefix+"requests"], sentStatus, got[prefix+"upstream,avg"], got[prefix+"reqtime,avg"])
	}
	if st, err := d.status(); err == nil && st.Ingest.Bad != 0 {
		t.Errorf("bad lines = %d, want 0", st.Ingest.Bad)
	}
}

// nginxFormat is nginx's main with times (no single quotes: it is pasted
// into nginx.conf between them).
const nginxFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time`

func freeUDP(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func waitHTTP(url string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("User-Agent", "Go-http-client/1.1")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
