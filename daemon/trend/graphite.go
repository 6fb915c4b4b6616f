package trend

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
)

// graphiteMatcher compiles a Graphite path expression (key.ParseGraphite)
// into a Matcher over keys.
func graphiteMatcher(query string) (*Matcher, error) {
	if strings.ContainsAny(query, "()") {
		return nil, fmt.Errorf("graphite functions are not supported: %q", query)
	}
	p, err := key.ParseGraphite(query)
	if err != nil {
		return nil, err
	}
	return NewMatcher(p), nil
}

// FindNode is one node of a Graphite /metrics/find answer.
type FindNode struct {
	ID            string `json:"id"`
	Text          string `json:"text"`
	Leaf          int    `json:"leaf"`
	Expandable    int    `json:"expandable"`
	AllowChildren int    `json:"allowChildren"`
}

// FindGraphite answers Graphite's /metrics/find: the nodes at the depth of
// query (a Graphite path expression) with history in [from, until],
// sorted by id.
func (s *Store) FindGraphite(ctx context.Context, query string, from, until time.Time) ([]FindNode, error) {
	m, err := graphiteMatcher(query)
	if err != nil {
		return nil, badQuery{err}
	}
	depth := m.p.Len()
	// Everything at or below the matching nodes: the query plus any
	// number of further levels.
	all, err := key.ParseGraphite(query + ".**")
	if err != nil {
		return nil, badQuery{err}
	}
	below := NewMatcher(all)
	keys, err := s.be.Keys(ctx, below, from.UnixMilli(), until.UnixMilli())
	if err != nil {
		return nil, err
	}
	nodes := map[string]*FindNode{}
	for _, k := range keys {
		segs := strings.Split(k, ",")
		if len(segs) < depth {
			continue
		}
		prefix := strings.Join(segs[:depth], ",")
		n := nodes[prefix]
		if n == nil {
			id := key.ToGraphite(prefix)
			n = &FindNode{ID: id, Text: id[strings.LastIndexByte(id, '.')+1:]}
			nodes[prefix] = n
		}
		if len(segs) == depth {
			n.Leaf = 1
		} else {
			n.Expandable, n.AllowChildren = 1, 1
		}
	}
	out := make([]FindNode, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// GraphiteSeries is one series of a Graphite /render answer (format=json).
type GraphiteSeries struct {
	Target     string            `json:"target"`
	Tags       map[string]string `json:"tags"`
	Datapoints [][2]any          `json:"datapoints"`
}

var constantLine = regexp.MustCompile(`^constantLine\(\s*([^)\s]+)\s*\)$`)

// RenderGraphite reads one target of Graphite's /render: a plain path
// (with wildcards) or, of the functions, only constantLine, which Grafana
// uses to test a data source.
func (s *Store) RenderGraphite(ctx context.Context, target string, from, until time.Time, points int) ([]GraphiteSeries, error) {
	if cl := constantLine.FindStringSubmatch(target); cl != nil {
		// Grafana's "Save & test" renders constantLine(100).
		v, err := strconv.ParseFloat(cl[1], 64)
		if err != nil {
			return nil, badQuery{fmt.Errorf("bad constantLine value %q", cl[1])}
		}
		f, u := from.Unix(), until.Unix()
		return []GraphiteSeries{{Target: target, Tags: map[string]string{"name": target},
			Datapoints: [][2]any{{v, f}, {v, (f + u) / 2}, {v, u}}}}, nil
	}
	res, err := s.ReadGraphite(ctx, target, ReadOptions{From: from, Until: until, Points: points})
	if err != nil {
		return nil, err
	}
	out := make([]GraphiteSeries, 0, len(res.Series))
	for _, sr := range res.Series {
		id := key.ToGraphite(sr.Key)
		rs := GraphiteSeries{Target: id, Tags: map[string]string{"name": id}, Datapoints: make([][2]any, len(sr.Points))}
		for i, p := range sr.Points {
			var v any = p.V
			if math.IsNaN(p.V) {
				v = nil // no sample: Graphite's null
			}
			rs.Datapoints[i] = [2]any{v, p.T / 1000}
		}
		out = append(out, rs)
	}
	return out, nil
}

// ReadGraphite is Read for a Graphite path expression (dots for commas,
// %2E for a dot in a name; *, ?, [...] and {a,b} within a segment).
// Series keys are tree keys; GraphiteName gives their Graphite names.
func (s *Store) ReadGraphite(ctx context.Context, path string, opt ReadOptions) (*Result, error) {
	m, err := graphiteMatcher(path)
	if err != nil {
		return nil, badQuery{err}
	}
	return s.read(ctx, m, opt)
}

// GraphiteName is the Graphite name of a tree key (br,webkit,14.0 is
// br.webkit.14%2E0).
func GraphiteName(k string) string { return key.ToGraphite(k) }
