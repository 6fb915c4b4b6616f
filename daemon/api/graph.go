package api

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/graph"
)

// ViewSource looks up a saved view by name for the user of request r.
type ViewSource interface {
	GraphView(r *http.Request, name string) (v graph.View, ok bool, err error)
}

// ViewFunc adapts a function to ViewSource.
type ViewFunc func(r *http.Request, name string) (graph.View, bool, error)

// GraphView implements ViewSource.
func (f ViewFunc) GraphView(r *http.Request, name string) (graph.View, bool, error) {
	return f(r, name)
}

// GraphRoutes registers GET /graph/NAME[.png|.jpg|.svg|.pdf] (parameters:
// graph.Graphs). views, if not nil, resolves NAME as a saved view first.
// Bad parameters and keys are 400s, a failing view or history read 500s,
// each with a one-line text body.
func GraphRoutes(r gin.IRouter, g *graph.Graphs, views ViewSource) {
	r.GET("/graph/*name", func(c *gin.Context) {
		req, err := g.Parse(strings.TrimPrefix(c.Param("name"), "/"), c.Request.URL.Query())
		if err != nil {
			c.String(http.StatusBadRequest, "%s\n", err)
			return
		}
		if views != nil {
			v, ok, err := views.GraphView(c.Request, req.Name)
			if err != nil {
				c.String(http.StatusInternalServerError, "cannot read view %q: %s\n", req.Name, err)
				return
			}
			if ok {
				g.UseView(req, v)
			}
		}
		if err := req.CheckKeys(); err != nil {
			c.String(http.StatusBadRequest, "%s\n", err)
			return
		}
		var buf bytes.Buffer
		if err := g.Draw(c.Request.Context(), &buf, req); err != nil {
			c.String(http.StatusInternalServerError, "%s\n", err)
			return
		}
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, req.Format.ContentType(), buf.Bytes())
	})
}
