package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// authMiddleware refuses requests without the token their method needs:
// GET, HEAD and OPTIONS read, everything else writes.
func (s *Server) authMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.auth.Enabled() {
			return
		}
		if err := s.auth.CheckRequest(c.Request); err != nil {
			s.metrics.refused.WithLabelValues("auth").Inc()
			if err.Code == http.StatusUnauthorized {
				c.Header("WWW-Authenticate", `Bearer realm="canopy"`)
			}
			s.fail(c, err.Code, err.Msg)
		}
	}
}
