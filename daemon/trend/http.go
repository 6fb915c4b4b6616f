package trend

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Routes registers GET /trend/KEY (and /trend?key=KEY for keys holding a
// slash), plus Graphite's /metrics/find and /render so Grafana's Graphite
// data source can read canopy. /trend/view/… belongs to the UI; gin routes
// the static "view" segment before the :key parameter.
func (s *Store) Routes(r gin.IRouter) {
	r.GET("/trend", s.handleTrend)
	r.GET("/trend/:key", s.handleTrend)
	r.GET("/metrics/find", s.handleFind)
	r.POST("/metrics/find", s.handleFind)
	r.GET("/render", s.handleRender)
	r.POST("/render", s.handleRender)
	// Grafana asks which Graphite functions exist; none are.
	r.GET("/functions", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{}) })
}

func httpError(c *gin.Context, code int, err error) {
	c.AbortWithStatusJSON(code, gin.H{"error": err.Error()})
}

func (s *Store) handleTrend(c *gin.Context) {
	key := c.Param("key")
	if q := c.Query("key"); q != "" {
		key = q
	}
	if key == "" {
		httpError(c, http.StatusBadRequest, fmt.Errorf("no key: use /trend/KEY or /trend?key=KEY"))
		return
	}
	now := s.opt.Now()
	from, err := ParseTime(c.Query("from"), now, now.Add(-24*time.Hour))
	if err != nil {
		httpError(c, http.StatusBadRequest, fmt.Errorf("from: %w", err))
		return
	}
	until, err := ParseTime(c.Query("until"), now, now)
	if err != nil {
		httpError(c, http.StatusBadRequest, fmt.Errorf("until: %w", err))
		return
	}
	points := 0
	if p := c.Query("points"); p != "" {
		points, err = strconv.Atoi(p)
		if err != nil || points < 1 {
			httpError(c, http.StatusBadRequest, fmt.Errorf("points=%q: want a positive number", p))
			return
		}
	}
	fn, err := ParseFn(c.Query("fn"))
	if err != nil {
		httpError(c, http.StatusBadRequest, err)
		return
	}
	res, err := s.Query(c.Request.Context(), key, from, until, points, fn)
	if err != nil {
		httpError(c, queryErrorCode(err), err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// queryErrorCode tells a bad request from a failing backend.
func queryErrorCode(err error) int {
	msg := err.Error()
	for _, p := range []string{"bad key", "empty key", "unknown fn", "points=", "is before from"} {
		if strings.Contains(msg, p) {
			return http.StatusBadRequest
		}
	}
	return http.StatusBadGateway
}

var relTime = regexp.MustCompile(`^(?:now)?\s*([-+])\s*(\d+)\s*([a-z]+)$`)

// ParseTime reads a time parameter: unix seconds (a value beyond the year
// 5000 is taken as unix milliseconds), RFC 3339, Graphite's HH:MM_YYYYMMDD
// and YYYYMMDD, "now", and relative times like -1h, -7d, -1y, now-30min
// (units s, min or m, h, d, w, mon, y). Empty gives def.
func ParseTime(s string, now, def time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return def, nil
	case s == "now":
		return now, nil
	}
	if m := relTime.FindStringSubmatch(strings.ToLower(s)); m != nil {
		n, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("bad time %q", s)
		}
		var unit time.Duration
		switch m[3] {
		case "s", "sec", "secs", "second", "seconds":
			unit = time.Second
		case "m", "min", "mins", "minute", "minutes":
			unit = time.Minute
		case "h", "hour", "hours":
			unit = time.Hour
		case "d", "day", "days":
			unit = 24 * time.Hour
		case "w", "week", "weeks":
			unit = 7 * 24 * time.Hour
		case "mon", "month", "months":
			unit = 30 * 24 * time.Hour
		case "y", "year", "years":
			unit = 365 * 24 * time.Hour
		default:
			return time.Time{}, fmt.Errorf("bad time %q: unknown unit %q (want s, min, h, d, w, mon or y)", s, m[3])
		}
		d := time.Duration(n) * unit
		if m[1] == "-" {
			d = -d
		}
		return now.Add(d), nil
	}
	if len(s) == 8 {
		// Graphite's YYYYMMDD; as unix seconds it would be 1970.
		if t, err := time.Parse("20060102", s); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		if math.Abs(f) >= 1e11 {
			return time.UnixMilli(int64(f)), nil
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "15:04_20060102"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q: want unix seconds, RFC 3339 or a relative time like -1h, -7d, -1y", s)
}

// Graphite names are dotted; canopy's keys are comma paths whose names may
// hold dots (br,webkit,14.0). A name's dots are written %2E in Graphite ids
// so the mapping stays reversible.

func keyToGraphite(key string) string {
	segs := strings.Split(key, ",")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(s, ".", "%2E")
	}
	return strings.Join(segs, ".")
}

func graphiteToKey(id string) string {
	segs := strings.Split(id, ".")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(s, "%2E", ".")
	}
	return strings.Join(segs, ",")
}

// graphiteMatcher compiles a Graphite path expression (*, ?, [..], {a,b}
// within one segment) into a Matcher over keys.
func graphiteMatcher(query string) (*Matcher, error) {
	if query == "" {
		return nil, fmt.Errorf("empty query")
	}
	if strings.ContainsAny(query, "()") {
		return nil, fmt.Errorf("graphite functions are not supported: %q", query)
	}
	segs := strings.Split(query, ".")
	var parts []string
	for _, seg := range segs {
		if seg == "" {
			return nil, fmt.Errorf("bad graphite path %q: empty segment", query)
		}
		seg = strings.ReplaceAll(seg, "%2E", ".")
		re, err := graphiteSegment(seg)
		if err != nil {
			return nil, fmt.Errorf("bad graphite path %q: %w", query, err)
		}
		parts = append(parts, re)
	}
	expr := strings.Join(parts, ",")
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("bad graphite path %q: %w", query, err)
	}
	return &Matcher{Pattern: graphiteToKey(query), Regexp: expr, re: re}, nil
}

func graphiteSegment(seg string) (string, error) {
	var b strings.Builder
	for len(seg) > 0 {
		i := strings.IndexByte(seg, '{')
		if i < 0 {
			g, err := globToRegexp(seg)
			if err != nil {
				return "", err
			}
			b.WriteString(g)
			break
		}
		j := strings.IndexByte(seg[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated {")
		}
		g, err := globToRegexp(seg[:i])
		if err != nil {
			return "", err
		}
		b.WriteString(g)
		b.WriteString("(?:")
		for k, alt := range strings.Split(seg[i+1:i+j], ",") {
			if k > 0 {
				b.WriteByte('|')
			}
			g, err := globToRegexp(alt)
			if err != nil {
				return "", err
			}
			b.WriteString(g)
		}
		b.WriteString(")")
		seg = seg[i+j+1:]
	}
	return b.String(), nil
}

type findNode struct {
	ID            string `json:"id"`
	Text          string `json:"text"`
	Leaf          int    `json:"leaf"`
	Expandable    int    `json:"expandable"`
	AllowChildren int    `json:"allowChildren"`
}

func (s *Store) handleFind(c *gin.Context) {
	query := c.Query("query")
	if v, ok := c.GetPostForm("query"); ok {
		query = v
	}
	now := s.opt.Now()
	from, err := ParseTime(formOrQuery(c, "from"), now, now.Add(-s.opt.Retention))
	if err != nil {
		httpError(c, http.StatusBadRequest, fmt.Errorf("from: %w", err))
		return
	}
	until, err := ParseTime(formOrQuery(c, "until"), now, now)
	if err != nil {
		httpError(c, http.StatusBadRequest, fmt.Errorf("until: %w", err))
		return
	}
	m, err := graphiteMatcher(query)
	if err != nil {
		httpError(c, http.StatusBadRequest, err)
		return
	}
	depth := strings.Count(query, ".") + 1
	// Everything at or below the matching nodes: the query plus any
	// number of further levels.
	below := &Matcher{Pattern: m.Pattern + ",**", Regexp: m.Regexp + `(?:,[^,]+)*`}
	below.re = regexp.MustCompile("^(?:" + below.Regexp + ")$")
	keys, err := s.be.Keys(c.Request.Context(), below, from.UnixMilli(), until.UnixMilli())
	if err != nil {
		httpError(c, http.StatusBadGateway, err)
		return
	}
	nodes := map[string]*findNode{}
	for _, k := range keys {
		segs := strings.Split(k, ",")
		if len(segs) < depth {
			continue
		}
		prefix := strings.Join(segs[:depth], ",")
		n := nodes[prefix]
		if n == nil {
			id := keyToGraphite(prefix)
			n = &findNode{ID: id, Text: id[strings.LastIndexByte(id, '.')+1:]}
			nodes[prefix] = n
		}
		if len(segs) == depth {
			n.Leaf = 1
		} else {
			n.Expandable, n.AllowChildren = 1, 1
		}
	}
	out := make([]findNode, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	c.JSON(http.StatusOK, out)
}

func formOrQuery(c *gin.Context, name string) string {
	if v, ok := c.GetPostForm(name); ok {
		return v
	}
	return c.Query(name)
}

type renderSeries struct {
	Target     string            `json:"target"`
	Tags       map[string]string `json:"tags"`
	Datapoints [][2]any          `json:"datapoints"`
}

// handleRender answers Graphite's /render with format=json: plain paths
// (with wildcards) as targets; of the functions only constantLine, which
// Grafana uses to test a data source.
var constantLine = regexp.MustCompile(`^constantLine\(\s*([^)\s]+)\s*\)$`)

func (s *Store) handleRender(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		httpError(c, http.StatusBadRequest, err)
		return
	}
	form := c.Request.Form
	if f := form.Get("format"); f != "" && f != "json" {
		httpError(c, http.StatusBadRequest, fmt.Errorf("format=%s: only json is served here (use /graph for images)", f))
		return
	}
	now := s.opt.Now()
	from, err := ParseTime(form.Get("from"), now, now.Add(-24*time.Hour))
	if err != nil {
		httpError(c, http.StatusBadRequest, fmt.Errorf("from: %w", err))
		return
	}
	until, err := ParseTime(form.Get("until"), now, now)
	if err != nil {
		httpError(c, http.StatusBadRequest, fmt.Errorf("until: %w", err))
		return
	}
	points := 1000
	if p := form.Get("maxDataPoints"); p != "" {
		if points, err = strconv.Atoi(p); err != nil || points < 1 {
			httpError(c, http.StatusBadRequest, fmt.Errorf("maxDataPoints=%q: want a positive number", p))
			return
		}
		points = min(points, MaxPoints)
	}
	out := []renderSeries{}
	for _, target := range form["target"] {
		if cl := constantLine.FindStringSubmatch(target); cl != nil {
			// Grafana's "Save & test" renders constantLine(100).
			v, err := strconv.ParseFloat(cl[1], 64)
			if err != nil {
				httpError(c, http.StatusBadRequest, fmt.Errorf("bad constantLine value %q", cl[1]))
				return
			}
			f, u := from.Unix(), until.Unix()
			out = append(out, renderSeries{Target: target, Tags: map[string]string{"name": target},
				Datapoints: [][2]any{{v, f}, {v, (f + u) / 2}, {v, u}}})
			continue
		}
		m, err := graphiteMatcher(target)
		if err != nil {
			httpError(c, http.StatusBadRequest, err)
			return
		}
		res, err := s.query(c.Request.Context(), m, from, until, points, FnAuto)
		if err != nil {
			httpError(c, queryErrorCode(err), err)
			return
		}
		for _, sr := range res.Series {
			id := keyToGraphite(sr.Key)
			rs := renderSeries{Target: id, Tags: map[string]string{"name": id}, Datapoints: make([][2]any, len(sr.Points))}
			for i, p := range sr.Points {
				rs.Datapoints[i] = [2]any{p.V, p.T / 1000}
			}
			out = append(out, rs)
		}
	}
	c.JSON(http.StatusOK, out)
}
