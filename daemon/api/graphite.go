package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/trend"
)

// find answers Graphite's /metrics/find (query in the URL or the form).
func (h trendHandler) find(c *gin.Context) {
	query := c.Query("query")
	if v, ok := c.GetPostForm("query"); ok {
		query = v
	}
	now := h.s.Now()
	from, err := trend.ParseTime(formOrQuery(c, "from"), now, now.Add(-h.s.Retention()))
	if err != nil {
		abortJSON(c, http.StatusBadRequest, fmt.Errorf("from: %w", err))
		return
	}
	until, err := trend.ParseTime(formOrQuery(c, "until"), now, now)
	if err != nil {
		abortJSON(c, http.StatusBadRequest, fmt.Errorf("until: %w", err))
		return
	}
	nodes, err := h.s.FindGraphite(c.Request.Context(), query, from, until)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, trend.ErrBadQuery) {
			code = http.StatusBadRequest
		}
		abortJSON(c, code, err)
		return
	}
	c.JSON(http.StatusOK, nodes)
}

func formOrQuery(c *gin.Context, name string) string {
	if v, ok := c.GetPostForm(name); ok {
		return v
	}
	return c.Query(name)
}

// render answers Graphite's /render with format=json.
func (h trendHandler) render(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		abortJSON(c, http.StatusBadRequest, err)
		return
	}
	form := c.Request.Form
	if f := form.Get("format"); f != "" && f != "json" {
		abortJSON(c, http.StatusBadRequest, fmt.Errorf("format=%s: only json is served here (use /graph for images)", f))
		return
	}
	now := h.s.Now()
	from, err := trend.ParseTime(form.Get("from"), now, now.Add(-24*time.Hour))
	if err != nil {
		abortJSON(c, http.StatusBadRequest, fmt.Errorf("from: %w", err))
		return
	}
	until, err := trend.ParseTime(form.Get("until"), now, now)
	if err != nil {
		abortJSON(c, http.StatusBadRequest, fmt.Errorf("until: %w", err))
		return
	}
	points := 1000
	if p := form.Get("maxDataPoints"); p != "" {
		if points, err = strconv.Atoi(p); err != nil || points < 1 {
			abortJSON(c, http.StatusBadRequest, fmt.Errorf("maxDataPoints=%q: want a positive number", p))
			return
		}
		points = min(points, trend.MaxPoints)
	}
	out := []trend.GraphiteSeries{}
	for _, target := range form["target"] {
		series, err := h.s.RenderGraphite(c.Request.Context(), target, from, until, points)
		if err != nil {
			abortJSON(c, queryErrorCode(err), err)
			return
		}
		out = append(out, series...)
	}
	c.JSON(http.StatusOK, out)
}
