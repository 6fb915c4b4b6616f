package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/ingest"
)

func TestReplayHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.log")
	if err := os.WriteFile(path, bytes.Repeat([]byte("a line\n"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	var lines atomic.Int64
	release := make(chan struct{})
	rp := &ingest.Replayer{Options: func(src ingest.Source) ingest.ReplayOptions {
		if src.LogFormat != "combined" || src.Prefix != "old" {
			t.Errorf("source = %+v, want log_format combined, prefix old", src)
		}
		return ingest.ReplayOptions{Source: src, Consumer: ingest.ConsumerFunc(func(b *ingest.Batch) error {
			<-release
			lines.Add(int64(len(b.Lines)))
			return nil
		})}
	}}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	ReplayRoutes(r, rp)
	post := func(body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/replay", strings.NewReader(body)))
		return w
	}
	req, _ := json.Marshal(map[string]any{"files": []string{path}, "log_format": "combined", "prefix": "old"})
	if w := post(string(req)); w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), `"running":true`) {
		t.Fatalf("POST /replay: %d %s, want 202 and a running replay", w.Code, w.Body)
	}
	if w := post(string(req)); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "already running") {
		t.Errorf("second POST /replay: %d %s, want 409", w.Code, w.Body)
	}
	close(release)
	var st ingest.ReplayState
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/replay", nil))
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			break
		}
	}
	if st.Running || st.Lines != 100 || st.Error != "" || lines.Load() != 100 {
		t.Fatalf("replay state %+v, consumer saw %d; want 100 lines done", st, lines.Load())
	}
	for _, bad := range []string{`{}`, `{"files": []}`, `not json`} {
		if w := post(bad); w.Code != http.StatusBadRequest {
			t.Errorf("POST /replay %s: %d, want 400", bad, w.Code)
		}
	}
}
