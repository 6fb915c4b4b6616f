package api

import (
	"bytes"
	"fmt"
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
// each with a JSON {"error": ...} body like every other route.
func GraphRoutes(r gin.IRouter, g *graph.Graphs, views ViewSource) {
	r.GET("/graph/*name", func(c *gin.Context) {
		req, err := g.Parse(strings.TrimPrefix(c.Param("name"), "/"), c.Request.URL.Query())
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		if views != nil {
			v, ok, err := views.GraphView(c.Request, req.Name)
			if err != nil {
				c.JSON(http.StatusInternalServerError, gin.H{"error": fmt.Sprintf("cannot read view %q: %s", req.Name, err)})
				return
			}
			if ok {
				g.UseView(req, v)
			}
		}
		if err := req.CheckKeys(); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		var buf bytes.Buffer
		if err := g.Draw(c.Request.Context(), &buf, req); err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, req.Format.ContentType(), buf.Bytes())
	})
}
