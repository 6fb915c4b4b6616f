package ingest

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
)

// TestReplayEndpoint asks a running canopyd to replay a gzipped log and
// checks the tree counts it.
func TestReplayEndpoint(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "old.log.gz")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	st, err := loggen.Write(zw, loggen.Config{Lines: 5000, Seed: 3, Format: "main", Bad: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	zw.Close()
	f.Close()
	d := startDaemon(t, filepath.Join(dir, "data"), wasmCache(t), "")
	body := fmt.Sprintf(`{"files": [%q], "log_format": "main", "prefix": "old"}`, logPath)
	resp, err := http.Post(d.url+"/replay", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /replay: %s", resp.Status)
	}
	var state struct {
		Running bool   `json:"running"`
		Lines   int    `json:"lines"`
		Error   string `json:"error"`
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(d.url + "/replay")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&state)
		resp.Body.Close()
		if !state.Running {
			break
		}
	}
	if state.Running || state.Error != "" {
		t.Fatalf("replay state %+v", state)
	}
	got := d.flat("old,requests")
	if v, _ := got["old,requests"].(float64); int(v) != st.Lines-st.Bad {
		t.Errorf("old,requests = %v, want %d (%d lines, %d malformed)", got["old,requests"], st.Lines-st.Bad, st.Lines, st.Bad)
	}
}
