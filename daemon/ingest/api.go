package ingest

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// ReplayAPI lets a running daemon replay old logs into its tree:
//
//	POST /replay {"files": ["/var/log/nginx/access.log.2.gz"], "log_format": "combined", "prefix": ""}
//	GET  /replay   → the running (or last) replay's progress
//
// One replay runs at a time; the files are paths on the daemon's host, so
// the route needs a write token when tokens are configured.
type ReplayAPI struct {
	// Options builds the replay options for a request's source.
	Options func(src Source) ReplayOptions
	Ctx     context.Context

	mu      sync.Mutex
	running bool
	state   replayState
}

type replayState struct {
	Files    []string   `json:"files"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Running  bool       `json:"running"`
	Lines    uint64     `json:"lines"`
	TooLong  uint64     `json:"lines_too_long"`
	Bytes    int64      `json:"bytes"`
	Total    int64      `json:"total_bytes"`
	Ticks    int        `json:"ticks,omitempty"`
	Error    string     `json:"error,omitempty"`
}

type replayRequest struct {
	Files     []string `json:"files"`
	LogFormat string   `json:"log_format"`
	Prefix    string   `json:"prefix"`
}

// Routes adds POST and GET /replay.
func (a *ReplayAPI) Routes(r gin.IRouter) {
	r.POST("/replay", a.start)
	r.GET("/replay", a.get)
}

func (a *ReplayAPI) get(c *gin.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c.JSON(http.StatusOK, a.state)
}

func (a *ReplayAPI) start(c *gin.Context) {
	var req replayRequest
	if err := c.ShouldBindJSON(&req); err != nil || len(req.Files) == 0 {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": `want {"files": ["PATH", …], "log_format": "…", "prefix": "…"}`})
		return
	}
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		c.AbortWithStatusJSON(http.StatusConflict, gin.H{"error": "a replay is already running; GET /replay shows its progress"})
		return
	}
	a.running = true
	a.state = replayState{Files: req.Files, Started: time.Now(), Running: true}
	a.mu.Unlock()
	opt := a.Options(Source{Name: "replay", LogFormat: req.LogFormat, Prefix: req.Prefix})
	opt.Progress = func(p ReplayProgress) {
		a.mu.Lock()
		a.state.Lines, a.state.TooLong, a.state.Bytes, a.state.Total = p.Lines, p.TooLong, p.Bytes, p.TotalBytes
		a.mu.Unlock()
	}
	ctx := a.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	go func() {
		res, err := Replay(ctx, req.Files, opt)
		now := time.Now()
		a.mu.Lock()
		a.running = false
		a.state.Running, a.state.Finished = false, &now
		a.state.Lines, a.state.TooLong, a.state.Ticks = res.Lines, res.TooLong, res.Ticks
		if err != nil {
			a.state.Error = err.Error()
		}
		a.mu.Unlock()
	}()
	a.mu.Lock()
	st := a.state
	a.mu.Unlock()
	c.JSON(http.StatusAccepted, st)
}
