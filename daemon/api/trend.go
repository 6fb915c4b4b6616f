package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/timespec"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// TrendRoutes registers GET /trend/KEY (and /trend?key=KEY for keys
// holding a slash), plus graphite-web's API (graphite.go) so Grafana's
// Graphite data source can read canopy. /trend/view/… belongs to the UI;
// gin routes the static "view" segment before the :key parameter.
//
// units, when set, gives every series the unit declared in the tree for
// its key (Series.Unit).
func TrendRoutes(r gin.IRouter, s *trend.Store, units UnitsFunc) {
	h := trendHandler{s, units}
	r.GET("/trend", h.trend)
	r.GET("/trend/:key", h.trend)
	graphiteRoutes(r, s)
}

type trendHandler struct {
	s     *trend.Store
	units UnitsFunc
}

func abortJSON(c *gin.Context, code int, err error) {
	AbortError(c, code, err.Error())
}

func (h trendHandler) trend(c *gin.Context) {
	key := c.Param("key")
	if q := c.Query("key"); q != "" {
		key = q
	}
	if key == "" {
		abortJSON(c, http.StatusBadRequest, fmt.Errorf("no key: use /trend/KEY or /trend?key=KEY"))
		return
	}
	now := h.s.Now()
	from, err := timespec.ParseTimeOr(c.Query("from"), now, now.Add(-24*time.Hour), nil)
	if err != nil {
		abortJSON(c, http.StatusBadRequest, fmt.Errorf("from: %w", err))
		return
	}
	until, err := timespec.ParseTimeOr(c.Query("until"), now, now, nil)
	if err != nil {
		abortJSON(c, http.StatusBadRequest, fmt.Errorf("until: %w", err))
		return
	}
	points := 0
	if p := c.Query("points"); p != "" {
		points, err = strconv.Atoi(p)
		if err != nil || points < 1 {
			abortJSON(c, http.StatusBadRequest, fmt.Errorf("points=%q: want a positive number", p))
			return
		}
	}
	fn, err := trend.ParseFn(c.Query("fn"))
	if err != nil {
		abortJSON(c, http.StatusBadRequest, err)
		return
	}
	as, err := trend.ParseAs(c.Query("as"))
	if err != nil {
		abortJSON(c, http.StatusBadRequest, err)
		return
	}
	top := 0
	if tq := c.Query("top"); tq != "" {
		top, err = strconv.Atoi(tq)
		if err != nil || top < 1 {
			abortJSON(c, http.StatusBadRequest, fmt.Errorf("top=%q: want a positive number", tq))
			return
		}
	}
	opt := trend.ReadOptions{From: from, Until: until, Points: points, Fn: fn, As: as}
	var res *trend.Result
	if pq := c.Query("percentile"); pq != "" {
		if top > 0 {
			// A sum of the other percentiles would mean nothing.
			abortJSON(c, http.StatusBadRequest, fmt.Errorf("top and percentile cannot be combined"))
			return
		}
		ps, perr := trend.ParsePercentiles(pq)
		if perr != nil {
			abortJSON(c, http.StatusBadRequest, perr)
			return
		}
		res, err = h.s.ReadPercentiles(c.Request.Context(), key, opt, ps)
	} else {
		res, err = h.s.Read(c.Request.Context(), key, opt)
	}
	if err != nil {
		abortJSON(c, queryErrorCode(err), err)
		return
	}
	for i := range res.Series {
		res.Series[i].Unit = seriesUnit(h.units, &res.Series[i], c.Query("percentile") != "")
	}
	res.Series = trend.Top(res.Series, top)
	c.JSON(http.StatusOK, res)
}

// queryErrorCode tells a bad request from a failing backend.
func queryErrorCode(err error) int {
	if errors.Is(err, trend.ErrBadQuery) {
		return http.StatusBadRequest
	}
	return http.StatusBadGateway
}
