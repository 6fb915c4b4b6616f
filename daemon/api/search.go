package api

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/key"
)

// Search answers caps.
const (
	searchDefaultLimit = 200
	searchMaxLimit     = 10000
)

// searchHit is one key whose text holds the query; Value is set for
// numbers (leaves), absent for subtrees.
type searchHit struct {
	Key   string   `json:"key"`
	Value *float64 `json:"value,omitempty"`
}

// search is GET /search?q=TEXT&limit=N: the keys (leaves and the
// subtrees above them) holding TEXT, case-insensitively, sorted, at most
// limit of them (default 200), with the count of all that match, so a
// capped list can say "showing 200 of 4,512".
func (s *Server) search(c *gin.Context) {
	q := strings.ToLower(c.Query("q"))
	limit := searchDefaultLimit
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > searchMaxLimit {
			s.fail(c, http.StatusBadRequest, fmt.Sprintf("limit=%q: want a number from 1 to %d", l, searchMaxLimit))
			return
		}
		limit = n
	}
	all, _ := key.Parse("**")
	seen := map[string]*float64{}
	for _, e := range s.opt.Tree.Get(all) {
		var v *float64
		if !e.IsMarker {
			v = new(float64)
			*v = e.Value
		}
		// The leaf, then each subtree above it until one already seen.
		for k := e.Key; k != ""; {
			if _, ok := seen[k]; ok {
				break
			}
			if strings.Contains(strings.ToLower(k), q) {
				seen[k] = v
			} else {
				seen[k] = nil
			}
			v = nil
			i := strings.LastIndexByte(k, ',')
			if i < 0 {
				break
			}
			k = k[:i]
		}
	}
	var hits []string
	for k := range seen {
		if strings.Contains(strings.ToLower(k), q) {
			hits = append(hits, k)
		}
	}
	sort.Strings(hits)
	total := len(hits)
	shown := hits[:min(limit, total)]
	out := make([]searchHit, len(shown))
	for i, k := range shown {
		out[i] = searchHit{Key: k, Value: seen[k]}
	}
	c.JSON(http.StatusOK, gin.H{"keys": out, "total": total, "shown": len(out)})
}
