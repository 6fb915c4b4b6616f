package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/ingest"
)

// ReplayRoutes adds the replay API of a running daemon:
//
//	POST /replay {"files": ["/var/log/nginx/access.log.2.gz"], "log_format": "combined", "prefix": ""}
//	GET  /replay   → the running (or last) replay's progress
//
// The files are paths on the daemon's host, so POST needs a write token
// when tokens are configured.
func ReplayRoutes(r gin.IRouter, rp *ingest.Replayer) {
	r.POST("/replay", func(c *gin.Context) {
		var req struct {
			Files     []string `json:"files"`
			LogFormat string   `json:"log_format"`
			Prefix    string   `json:"prefix"`
		}
		if err := c.ShouldBindJSON(&req); err != nil || len(req.Files) == 0 {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": `want {"files": ["PATH", …], "log_format": "…", "prefix": "…"}`})
			return
		}
		st, err := rp.Start(req.Files, ingest.Source{Name: "replay", LogFormat: req.LogFormat, Prefix: req.Prefix})
		if errors.Is(err, ingest.ErrReplayRunning) {
			c.AbortWithStatusJSON(http.StatusConflict, gin.H{"error": "a replay is already running; GET /replay shows its progress"})
			return
		}
		c.JSON(http.StatusAccepted, st)
	})
	r.GET("/replay", func(c *gin.Context) { c.JSON(http.StatusOK, rp.State()) })
}
