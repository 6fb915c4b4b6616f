package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/graph"
	"github.com/canopy-dev/canopy/daemon/graphite"
	"github.com/canopy-dev/canopy/daemon/timespec"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// GraphiteVersion is what /version answers: a graphite-web 1.1 release,
// so Grafana offers its 1.1 functions.
const GraphiteVersion = "1.1.10"

// graphiteRoutes registers graphite-web's HTTP API over the trend store.
func graphiteRoutes(r gin.IRouter, s *trend.Store) {
	h := graphiteHandler{s: s, ev: &graphite.Evaluator{Src: graphite.FromTrend(s)}}
	r.GET("/metrics/find", h.find)
	r.POST("/metrics/find", h.find)
	r.GET("/metrics/expand", h.expand)
	r.POST("/metrics/expand", h.expand)
	r.GET("/metrics/index.json", h.index)
	r.GET("/render", h.render)
	r.POST("/render", h.render)
	r.GET("/version", func(c *gin.Context) { c.String(http.StatusOK, GraphiteVersion) })
	r.GET("/functions", h.functions)
	r.GET("/functions/:name", h.function)
	// No tags: Grafana's tag editor gets empty lists, not errors.
	empty := func(c *gin.Context) { c.JSON(http.StatusOK, []string{}) }
	r.GET("/tags", empty)
	r.GET("/tags/autoComplete/tags", empty)
	r.GET("/tags/autoComplete/values", empty)
	r.GET("/tags/findSeries", empty)
	r.POST("/tags/findSeries", empty)
}

type graphiteHandler struct {
	s  *trend.Store
	ev *graphite.Evaluator
}

// graphiteError answers as graphite-web: 400 with the message as text
// for what was asked, 502 for a failing store.
func graphiteError(c *gin.Context, err error) {
	code := http.StatusBadGateway
	if errors.Is(err, graphite.ErrBadRequest) || errors.Is(err, trend.ErrBadQuery) {
		code = http.StatusBadRequest
	}
	c.AbortWithStatusJSON(code, gin.H{"error": err.Error()})
}

func formOrQuery(c *gin.Context, name string) string {
	if v, ok := c.GetPostForm(name); ok {
		return v
	}
	return c.Query(name)
}

// findRange reads from and until of /metrics/find and /metrics/expand
// (default: the whole retention).
func (h graphiteHandler) findRange(c *gin.Context) (from, until time.Time, err error) {
	now := h.s.Now()
	from, until = now.Add(-h.s.Retention()), now
	if v := formOrQuery(c, "from"); v != "" && v != "-1" {
		if from, err = timespec.ParseTime(v, now, time.UTC); err != nil {
			return from, until, fmt.Errorf("from: %w: %w", err, graphite.ErrBadRequest)
		}
	}
	if v := formOrQuery(c, "until"); v != "" && v != "-1" {
		if until, err = timespec.ParseTime(v, now, time.UTC); err != nil {
			return from, until, fmt.Errorf("until: %w: %w", err, graphite.ErrBadRequest)
		}
	}
	return from, until, nil
}

// find answers Graphite's /metrics/find (query in the URL or the form).
func (h graphiteHandler) find(c *gin.Context) {
	from, until, err := h.findRange(c)
	if err != nil {
		graphiteError(c, err)
		return
	}
	query := formOrQuery(c, "query")
	nodes, err := h.s.FindGraphite(c.Request.Context(), query, from, until)
	if err != nil {
		graphiteError(c, err)
		return
	}
	leavesOnly := formOrQuery(c, "leavesOnly") == "1"
	c.JSON(http.StatusOK, treeJSON(nodes, query, leavesOnly, formOrQuery(c, "wildcards") == "1"))
}

// treeJSON shapes find's nodes as graphite-web's treejson does: one node
// per name (a wildcard before the last segment matches the same name
// under several parents), its id the query's parent path plus the name,
// branches before leaves, each sorted by name; with wildcards=1 a "*"
// node first when more than one matched.
func treeJSON(nodes []trend.FindNode, query string, leavesOnly, wildcards bool) []trend.FindNode {
	base := ""
	if i := strings.LastIndexByte(query, '.'); i >= 0 {
		base = query[:i+1]
	}
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Text < nodes[j].Text })
	seen := map[string]bool{}
	var branches, leaves []trend.FindNode
	for _, n := range nodes {
		if seen[n.Text] || (leavesOnly && n.Leaf == 0) {
			continue
		}
		seen[n.Text] = true
		n.ID = base + n.Text
		if n.Expandable == 1 {
			branches = append(branches, n)
		} else {
			leaves = append(leaves, n)
		}
	}
	out := make([]trend.FindNode, 0, len(nodes)+1)
	if wildcards && len(branches)+len(leaves) > 1 {
		w := trend.FindNode{ID: base + "*", Text: "*", Leaf: 1}
		if len(branches) > 0 {
			w = trend.FindNode{ID: base + "*", Text: "*", Expandable: 1, AllowChildren: 1}
		}
		out = append(out, w)
	}
	return append(append(out, branches...), leaves...)
}

// expand answers /metrics/expand: the paths every query matches
// ({"results": [...]}, or by query with groupByExpr=1).
func (h graphiteHandler) expand(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		graphiteError(c, fmt.Errorf("%w: %w", err, graphite.ErrBadRequest))
		return
	}
	from, until, err := h.findRange(c)
	if err != nil {
		graphiteError(c, err)
		return
	}
	leavesOnly := c.Request.Form.Get("leavesOnly") == "1"
	byExpr := c.Request.Form.Get("groupByExpr") == "1"
	grouped := map[string][]string{}
	all := map[string]bool{}
	for _, q := range c.Request.Form["query"] {
		nodes, err := h.s.FindGraphite(c.Request.Context(), q, from, until)
		if err != nil {
			graphiteError(c, err)
			return
		}
		paths := []string{}
		for _, n := range nodes {
			if leavesOnly && n.Leaf == 0 {
				continue
			}
			paths = append(paths, n.ID)
			all[n.ID] = true
		}
		sort.Strings(paths)
		grouped[q] = paths
	}
	if byExpr {
		c.JSON(http.StatusOK, gin.H{"results": grouped})
		return
	}
	out := make([]string, 0, len(all))
	for p := range all {
		out = append(out, p)
	}
	sort.Strings(out)
	c.JSON(http.StatusOK, gin.H{"results": out})
}

// index answers /metrics/index.json: every series name.
func (h graphiteHandler) index(c *gin.Context) {
	now := h.s.Now()
	names, err := h.s.GraphiteNames(c.Request.Context(), now.Add(-h.s.Retention()), now)
	if err != nil {
		graphiteError(c, err)
		return
	}
	if cb := c.Query("jsonp"); cb != "" {
		c.JSONP(http.StatusOK, names)
		return
	}
	c.JSON(http.StatusOK, names)
}

// render answers Graphite's /render as graphite-web 1.1 does.
func (h graphiteHandler) render(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		c.String(http.StatusBadRequest, err.Error())
		return
	}
	req, opt, err := graphite.ParseRender(c.Request.Form, h.s.Now())
	if err != nil {
		c.String(http.StatusBadRequest, err.Error())
		return
	}
	series, err := h.ev.Eval(c.Request.Context(), req)
	if err != nil {
		if errors.Is(err, graphite.ErrBadRequest) || errors.Is(err, trend.ErrBadQuery) {
			c.String(http.StatusBadRequest, err.Error())
			return
		}
		c.String(http.StatusBadGateway, err.Error())
		return
	}
	var b bytes.Buffer
	switch opt.Format {
	case "json":
		graphite.Consolidate(series, opt.MaxDataPoints)
		if err = graphite.WriteJSON(&b, series, opt); err != nil {
			break
		}
		ct := "application/json"
		if opt.JSONP != "" {
			ct = "text/javascript"
		}
		c.Data(http.StatusOK, ct, b.Bytes())
		return
	case "csv":
		err = graphite.WriteCSV(&b, series, req.Location)
		c.Data(http.StatusOK, "text/csv", b.Bytes())
	case "raw":
		err = graphite.WriteRaw(&b, series)
		c.Data(http.StatusOK, "text/plain", b.Bytes())
	default:
		f := graph.FormatPNG
		if opt.Format == "svg" {
			f = graph.FormatSVG
		}
		width := opt.Width
		if width > 0 {
			graphite.Consolidate(series, width)
		}
		ch := &graph.Chart{Title: opt.Title, Width: opt.Width, Height: opt.Height,
			From: req.From * 1000, Until: req.Until * 1000, Location: req.Location}
		for _, s := range series {
			gs := graph.Series{Name: s.Name}
			for _, d := range s.Datapoints() {
				gs.Points = append(gs.Points, graph.Point{T: d.T * 1000, V: d.V})
			}
			ch.Series = append(ch.Series, gs)
		}
		if len(ch.Series) == 0 {
			ch.Bars = []graph.Bar{}
		}
		if err = graph.NewRenderer().Render(&b, ch, f); err == nil {
			c.Data(http.StatusOK, f.ContentType(), b.Bytes())
		}
	}
	if err != nil {
		c.String(http.StatusInternalServerError, err.Error())
	}
}

// functionInfo is one entry of /functions in graphite-web's shape.
type functionInfo struct {
	Name        string      `json:"name"`
	Function    string      `json:"function"`
	Description string      `json:"description"`
	Module      string      `json:"module"`
	Group       string      `json:"group"`
	Params      []paramInfo `json:"params"`
}

type paramInfo struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required,omitempty"`
	Default  any      `json:"default,omitempty"`
	Multiple bool     `json:"multiple,omitempty"`
	Options  []string `json:"options,omitempty"`
}

func infoOf(f *graphite.Func) functionInfo {
	fi := functionInfo{Name: f.Name, Description: f.Description, Module: "graphite.render.functions", Group: f.Group, Params: []paramInfo{}}
	var sig []string
	for _, p := range f.Params {
		pi := paramInfo{Name: p.Name, Type: string(p.Type), Required: p.Required, Multiple: p.Multiple, Options: p.Options}
		if p.Default != nil && !(p.Type == graphite.TIntOrInf) {
			pi.Default = p.Default
		}
		if p.Type == graphite.TAggFunc {
			pi.Options = graphite.AggFuncNames()
		}
		fi.Params = append(fi.Params, pi)
		s := p.Name
		switch {
		case p.Multiple:
			s = "*" + s
		case p.Default != nil:
			s += "=" + fmt.Sprint(p.Default)
		case !p.Required:
			s += "=None"
		}
		sig = append(sig, s)
	}
	fi.Function = f.Name + "(" + strings.Join(sig, ", ") + ")"
	return fi
}

// functions answers /functions: the functions canopy evaluates, keyed by
// name (grouped=1: by group, then name; group=G: only that group).
func (h graphiteHandler) functions(c *gin.Context) {
	grouped := c.Query("grouped") == "1" || strings.EqualFold(c.Query("grouped"), "true")
	group, byGroup := c.GetQuery("group")
	flat := map[string]functionInfo{}
	groups := map[string]map[string]functionInfo{}
	for _, f := range graphite.Functions() {
		if byGroup && f.Group != group {
			continue
		}
		fi := infoOf(f)
		if grouped {
			if groups[f.Group] == nil {
				groups[f.Group] = map[string]functionInfo{}
			}
			groups[f.Group][f.Name] = fi
			continue
		}
		flat[f.Name] = fi
	}
	if grouped {
		c.JSON(http.StatusOK, groups)
		return
	}
	c.JSON(http.StatusOK, flat)
}

func (h graphiteHandler) function(c *gin.Context) {
	for _, f := range graphite.Functions() {
		if f.Name == c.Param("name") {
			c.JSON(http.StatusOK, infoOf(f))
			return
		}
	}
	c.String(http.StatusNotFound, "Function not found: %s", c.Param("name"))
}
