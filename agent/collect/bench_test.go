package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/canopy-dev/canopy/agent/push"
)

// BenchmarkPushPath is what a round costs after the modules answered, with
// the default modules' shape (~130 metrics under 8 modules, 100 access-log
// lines): the push object, its JSON, the disk buffer and the POST.
func BenchmarkPushPath(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c, err := push.New(push.Options{Server: srv.URL, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	var paths [][]string
	for _, d := range []string{"lo", "eth0", "eth1"} {
		for _, m := range []string{"rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets", "tx_errs", "tx_drop"} {
			paths = append(paths, []string{"net", "testhost", d, m})
		}
	}
	for _, d := range []string{"sda", "sdb"} {
		for _, m := range []string{"reads", "writes", "read_bytes", "write_bytes", "busy_percent"} {
			paths = append(paths, []string{"disk", "testhost", "io", d, m})
		}
	}
	for i := 0; len(paths) < 130; i++ {
		paths = append(paths, []string{[]string{"cpu", "mem", "load", "url"}[i%4], "testhost", fmt.Sprintf("metric%d", i)})
	}
	lines := make([]string, 100)
	for i := range lines {
		lines[i] = `127.0.0.1 - - [26/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "bench"`
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		obj := map[string]any{"defaultaction": "average"}
		for j, p := range paths {
			insert(obj, p, float64(i*j)+0.5, "")
		}
		j, err := json.Marshal(obj)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Enqueue(push.Batch{JSON: []json.RawMessage{j}, AccessLog: lines}); err != nil {
			b.Fatal(err)
		}
		if err := c.Drain(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
