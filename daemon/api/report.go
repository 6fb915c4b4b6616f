package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/report"
)

// reportDefaultTop is the UI's top N: rows per panel when top is not given.
const reportDefaultTop = 10

// report is GET /report?top=N: every panel of `canopyd report --json`
// (docs/report.md) read from the live tree, at most N rows per panel plus
// _other (default 10, 0 for all).
func (s *Server) report(c *gin.Context) {
	top := reportDefaultTop
	if q, ok := c.GetQuery("top"); ok {
		n, err := strconv.Atoi(q)
		if err != nil || n < 0 {
			s.fail(c, http.StatusBadRequest, fmt.Sprintf("top=%q: want a number of rows per panel, 0 for all", q))
			return
		}
		top = n
	}
	r := report.Build(s.opt.Tree, s.reportInput())
	r.Top(top)
	c.JSON(http.StatusOK, r)
}

// reportInput is what the live daemon knows besides the tree. Valid lines
// are the tree's status counts, so they cover the same lines as the
// panels (a restored snapshot included); failed lines are the pipes' bad
// lines since the daemon started, as nothing older is kept.
func (s *Server) reportInput() report.Input {
	var valid uint64
	p, _ := key.Parse("status,*")
	for _, e := range s.opt.Tree.Get(p) {
		if !e.IsMarker && e.Value > 0 {
			valid += uint64(e.Value)
		}
	}
	var bad uint64
	if s.opt.FailedLines != nil {
		bad = s.opt.FailedLines()
	}
	return report.Input{Lines: valid + bad, Bad: bad}
}
