package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/auth"
)

// authMiddleware refuses requests without the token their method needs:
// GET, HEAD and OPTIONS read, everything else writes, except the POSTs
// that only read (readOnlyPost).
func (s *Server) authMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.auth.Enabled() {
			return
		}
		write := true
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			write = false
		case http.MethodPost:
			write = !readOnlyPost(c.FullPath())
		}
		if err := s.auth.Check(auth.Token(c.Request), write); err != nil {
			s.metrics.refused.With("auth").Inc()
			if err.Code == http.StatusUnauthorized {
				c.Header("WWW-Authenticate", `Bearer realm="canopy"`)
			}
			s.fail(c, err.Code, err.Msg)
		}
	}
}

// readOnlyPost reports whether POST on route only reads: graphite-web's
// query routes, which Grafana sends as POST forms, take a read token.
func readOnlyPost(route string) bool {
	switch route {
	case "/render", "/metrics/find", "/metrics/expand", "/tags/findSeries":
		return true
	}
	return false
}
