package api

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// DiffRow is one child present under either key.
type DiffRow struct {
	Key  string   `json:"key"` // relative to each side's key
	A    *float64 `json:"a"`   // null when missing under A
	B    *float64 `json:"b"`
	Diff float64  `json:"diff"` // a - b, a missing side counting as 0
}

// diff compares two subtrees child by child: /diff/KEYA/KEYB, or
// /diff?a=KEYA&b=KEYB when a key holds a slash.
func (s *Server) diff(c *gin.Context) {
	ka, kb := c.Query("a"), c.Query("b")
	if ka == "" && kb == "" {
		// Split the raw path so an escaped %2F inside a key stays in it.
		raw := strings.TrimPrefix(c.Request.URL.EscapedPath(), "/diff/")
		parts := strings.Split(raw, "/")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			s.fail(c, http.StatusBadRequest, "want /diff/KEYA/KEYB (or /diff?a=KEYA&b=KEYB); escape a / inside a key as %2F")
			return
		}
		var err error
		if ka, err = url.PathUnescape(parts[0]); err == nil {
			kb, err = url.PathUnescape(parts[1])
		}
		if err != nil {
			s.fail(c, http.StatusBadRequest, "bad escape in the diff path: "+err.Error())
			return
		}
	}
	rows, err := Diff(s.opt.Tree, ka, kb)
	if err != nil {
		s.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	c.Header(versionHeader, fmt.Sprint(s.opt.Tree.Version()))
	c.JSON(http.StatusOK, rows)
}

// Diff lines up the numbers under keys a and b by their key relative to
// each, sorted by that key. When a key has wildcards, the subtrees it
// matches are summed child by child. Markers are left out.
func Diff(t *tree.Tree, a, b string) ([]DiffRow, error) {
	sa, err := relative(t, a)
	if err != nil {
		return nil, err
	}
	sb, err := relative(t, b)
	if err != nil {
		return nil, err
	}
	rows := make([]DiffRow, 0, max(len(sa), len(sb)))
	for k, va := range sa {
		r := DiffRow{Key: k, A: &va, Diff: va}
		if vb, ok := sb[k]; ok {
			r.B = &vb
			r.Diff = va - vb
		}
		rows = append(rows, r)
	}
	for k, vb := range sb {
		if _, ok := sa[k]; !ok {
			rows = append(rows, DiffRow{Key: k, B: &vb, Diff: -vb})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows, nil
}

func relative(t *tree.Tree, k string) (map[string]float64, error) {
	if k == "" {
		return nil, fmt.Errorf("diff needs two non-empty keys")
	}
	p, err := key.Parse(k)
	if err != nil {
		return nil, err
	}
	depth, ok := p.Depth()
	if !ok {
		return nil, fmt.Errorf("key %q: ** cannot be lined up child by child", k)
	}
	out := map[string]float64{}
	for _, e := range t.Get(p) {
		if e.IsMarker {
			continue
		}
		// Escaped keys never hold a raw comma inside a name.
		parts := strings.SplitN(e.Key, ",", depth+1)
		rel := ""
		if len(parts) > depth {
			rel = parts[depth]
		}
		out[rel] += e.Value
	}
	return out, nil
}
