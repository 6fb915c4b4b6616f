package pyconf

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is one decoded module config file (conf/agent.d/NAME.conf).
type Config struct {
	Modules []Module
	Groups  []Group
}

// Module is a `modules { module { ... } }` entry.
type Module struct {
	Name string
	// Path is the .wasm file, relative to the agent's module folder unless
	// absolute.
	Path string
	// Language is accepted for gmond compatibility; only "wasm" (the default)
	// runs here.
	Language string
	// Enabled is false for `enabled = no`.
	Enabled bool
	// Params are passed to metric_init as strings, as gmond does.
	Params map[string]string
	// DefaultAction is the tree's defaultaction for the module's subtree
	// (average unless set).
	DefaultAction string
	Grants        Grants
	Pos           Pos
}

// Grants is what a module may touch; nothing unless listed.
type Grants struct {
	// Read are host paths mounted read-only at the same path (e.g. /proc).
	Read []string
	// HTTPGet are URLs the module may fetch with the http_get host call;
	// an entry ending in '*' grants every URL with that prefix.
	HTTPGet []string
	// Tail are files the module may follow from their end.
	Tail []string
	// Statfs are mount points whose space the module may ask for.
	Statfs []string
}

// Group is a `collection_group { ... }`.
type Group struct {
	// CollectEvery is how often the group's metrics are collected.
	CollectEvery time.Duration
	// TimeThreshold is the longest a metric goes unsent; a value that has
	// not moved beyond its value_threshold is sent again after it.
	TimeThreshold time.Duration
	Metrics       []MetricRule
	Pos           Pos
}

// MetricRule picks metrics of the group by name or by regular expression.
type MetricRule struct {
	Name      string
	NameMatch *regexp.Regexp
	// ValueThreshold: a value is sent when it moved more than this since the
	// last sent value (0: any change).
	ValueThreshold float64
	Title          string
	Pos            Pos
}

// Matches reports whether the rule selects metric name.
func (r MetricRule) Matches(name string) bool {
	if r.NameMatch != nil {
		return r.NameMatch.MatchString(name)
	}
	return r.Name == name
}

// ParseConfig parses and decodes a module config file; name is used in errors.
func ParseConfig(name string, src []byte) (*Config, error) {
	nodes, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	d := decoder{file: name}
	c := &Config{}
	for _, n := range nodes {
		switch {
		case n.Name == "modules" && n.IsSection():
			if err := d.noTitle(n); err != nil {
				return nil, err
			}
			for _, m := range n.Children {
				if m.Name != "module" || !m.IsSection() {
					return nil, d.errf(m.Pos, "unknown entry %q in modules (want module { ... })", m.Name)
				}
				mod, err := d.module(m)
				if err != nil {
					return nil, err
				}
				c.Modules = append(c.Modules, mod)
			}
		case n.Name == "collection_group" && n.IsSection():
			g, err := d.group(n)
			if err != nil {
				return nil, err
			}
			c.Groups = append(c.Groups, g)
		case n.Name == "include":
			return nil, d.errf(n.Pos, "include is not supported: put each module config in its own file in the configs folder")
		default:
			return nil, d.errf(n.Pos, "unknown top-level entry %q (want modules or collection_group)", n.Name)
		}
	}
	seen := map[string]Pos{}
	for _, m := range c.Modules {
		if p, ok := seen[m.Name]; ok {
			return nil, d.errf(m.Pos, "module %q is already defined at %s", m.Name, p)
		}
		seen[m.Name] = m.Pos
	}
	return c, nil
}

type decoder struct{ file string }

func (d decoder) errf(p Pos, format string, args ...any) error {
	return &Error{File: d.file, Pos: p, Msg: fmt.Sprintf(format, args...)}
}

func (d decoder) noTitle(n *Node) error {
	if n.Title != nil {
		return d.errf(n.Title.Pos, "section %s takes no title", n.Name)
	}
	return nil
}

func (d decoder) setting(n *Node, in string) error {
	if n.IsSection() {
		return d.errf(n.Pos, "%s in %s is a setting, not a section (write %s = ...)", n.Name, in, n.Name)
	}
	return nil
}

func (d decoder) str(n *Node, in string) (string, error) {
	if err := d.setting(n, in); err != nil {
		return "", err
	}
	return n.Value.Text, nil
}

func (d decoder) boolean(n *Node, in string) (bool, error) {
	if err := d.setting(n, in); err != nil {
		return false, err
	}
	switch strings.ToLower(n.Value.Text) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, d.errf(n.Value.Pos, "%s: want yes or no, got %q", n.Name, n.Value.Text)
}

func (d decoder) number(n *Node, in string) (float64, error) {
	if err := d.setting(n, in); err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(n.Value.Text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, d.errf(n.Value.Pos, "%s: want a number, got %q", n.Name, n.Value.Text)
	}
	return f, nil
}

// seconds reads a gmond interval: a number of seconds (fractions allowed).
func (d decoder) seconds(n *Node, in string) (time.Duration, error) {
	f, err := d.number(n, in)
	if err != nil {
		return 0, err
	}
	if f < 0 || f > 365*24*3600 {
		return 0, d.errf(n.Value.Pos, "%s: %v seconds is out of range", n.Name, f)
	}
	return time.Duration(f * float64(time.Second)), nil
}

var actions = map[string]bool{"add": true, "average": true, "max": true, "min": true, "last": true}

func (d decoder) module(n *Node) (Module, error) {
	m := Module{Pos: n.Pos, Enabled: true, Language: "wasm", DefaultAction: "average", Params: map[string]string{}}
	if err := d.noTitle(n); err != nil {
		return m, err
	}
	var err error
	for _, c := range n.Children {
		switch c.Name {
		case "name":
			m.Name, err = d.str(c, "module")
		case "path":
			m.Path, err = d.str(c, "module")
		case "language":
			m.Language, err = d.str(c, "module")
			if err == nil && m.Language != "wasm" {
				err = d.errf(c.Value.Pos, "language %q: only wasm modules run in canopy-agent", m.Language)
			}
		case "enabled":
			m.Enabled, err = d.boolean(c, "module")
		case "defaultaction":
			m.DefaultAction, err = d.str(c, "module")
			if err == nil && !actions[m.DefaultAction] {
				err = d.errf(c.Value.Pos, "defaultaction %q: want add, average, max, min or last", m.DefaultAction)
			}
		case "param":
			if !c.IsSection() || c.Title == nil {
				return m, d.errf(c.Pos, "param needs a name and a section: param NAME { value = ... }")
			}
			var val *Value
			for _, pc := range c.Children {
				if pc.Name != "value" || pc.IsSection() {
					return m, d.errf(pc.Pos, "unknown entry %q in param %s (want value = ...)", pc.Name, c.Title.Text)
				}
				val = pc.Value
			}
			if val == nil {
				return m, d.errf(c.Pos, "param %s has no value", c.Title.Text)
			}
			if _, dup := m.Params[c.Title.Text]; dup {
				return m, d.errf(c.Pos, "param %s is set twice", c.Title.Text)
			}
			m.Params[c.Title.Text] = val.Text
		case "grant":
			if !c.IsSection() {
				return m, d.errf(c.Pos, "grant is a section: grant { read = \"/proc\" http_get = \"http://...\" tail = \"/path\" }")
			}
			if err := d.noTitle(c); err != nil {
				return m, err
			}
			for _, g := range c.Children {
				v, err := d.str(g, "grant")
				if err != nil {
					return m, err
				}
				if v == "" {
					return m, d.errf(g.Value.Pos, "%s: empty grant", g.Name)
				}
				switch g.Name {
				case "read":
					if !strings.HasPrefix(v, "/") {
						return m, d.errf(g.Value.Pos, "read %q: want an absolute path", v)
					}
					m.Grants.Read = append(m.Grants.Read, v)
				case "http_get":
					if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
						return m, d.errf(g.Value.Pos, "http_get %q: want an http:// or https:// URL", v)
					}
					m.Grants.HTTPGet = append(m.Grants.HTTPGet, v)
				case "tail":
					if !strings.HasPrefix(v, "/") {
						return m, d.errf(g.Value.Pos, "tail %q: want an absolute path", v)
					}
					m.Grants.Tail = append(m.Grants.Tail, v)
				case "statfs":
					if !strings.HasPrefix(v, "/") {
						return m, d.errf(g.Value.Pos, "statfs %q: want an absolute path", v)
					}
					m.Grants.Statfs = append(m.Grants.Statfs, v)
				default:
					return m, d.errf(g.Pos, "unknown grant %q (want read, http_get, tail or statfs)", g.Name)
				}
			}
		default:
			return m, d.errf(c.Pos, "unknown entry %q in module (want name, path, language, enabled, defaultaction, param or grant)", c.Name)
		}
		if err != nil {
			return m, err
		}
	}
	if m.Name == "" {
		return m, d.errf(n.Pos, "module has no name")
	}
	if strings.ContainsAny(m.Name, ",%") {
		return m, d.errf(n.Pos, "module name %q may not hold ',' or '%%'", m.Name)
	}
	if m.Path == "" {
		return m, d.errf(n.Pos, "module %q has no path", m.Name)
	}
	return m, nil
}

func (d decoder) group(n *Node) (Group, error) {
	g := Group{Pos: n.Pos, CollectEvery: 10 * time.Second, TimeThreshold: 60 * time.Second}
	if err := d.noTitle(n); err != nil {
		return g, err
	}
	var err error
	for _, c := range n.Children {
		switch c.Name {
		case "collect_every":
			g.CollectEvery, err = d.seconds(c, "collection_group")
			if err == nil && g.CollectEvery <= 0 {
				err = d.errf(c.Value.Pos, "collect_every must be above 0")
			}
		case "time_threshold":
			g.TimeThreshold, err = d.seconds(c, "collection_group")
		case "collect_once":
			// gmond: collect once at start (static facts); we collect them
			// every time_threshold instead, which sends the same.
			_, err = d.boolean(c, "collection_group")
		case "metric":
			if !c.IsSection() {
				return g, d.errf(c.Pos, "metric is a section: metric { name = \"...\" }")
			}
			r, err := d.metric(c)
			if err != nil {
				return g, err
			}
			g.Metrics = append(g.Metrics, r)
		default:
			return g, d.errf(c.Pos, "unknown entry %q in collection_group (want collect_every, time_threshold or metric)", c.Name)
		}
		if err != nil {
			return g, err
		}
	}
	if len(g.Metrics) == 0 {
		return g, d.errf(n.Pos, "collection_group has no metric")
	}
	return g, nil
}

func (d decoder) metric(n *Node) (MetricRule, error) {
	r := MetricRule{Pos: n.Pos}
	if err := d.noTitle(n); err != nil {
		return r, err
	}
	var err error
	for _, c := range n.Children {
		switch c.Name {
		case "name":
			r.Name, err = d.str(c, "metric")
		case "name_match":
			var s string
			s, err = d.str(c, "metric")
			if err == nil {
				r.NameMatch, err = regexp.Compile(s)
				if err != nil {
					err = d.errf(c.Value.Pos, "name_match %q: %v", s, err)
				}
			}
		case "value_threshold":
			r.ValueThreshold, err = d.number(c, "metric")
			if err == nil && r.ValueThreshold < 0 {
				err = d.errf(c.Value.Pos, "value_threshold must not be negative")
			}
		case "title":
			r.Title, err = d.str(c, "metric")
		default:
			return r, d.errf(c.Pos, "unknown entry %q in metric (want name, name_match, value_threshold or title)", c.Name)
		}
		if err != nil {
			return r, err
		}
	}
	if r.Name == "" && r.NameMatch == nil {
		return r, d.errf(n.Pos, "metric has neither name nor name_match")
	}
	if r.Name != "" && r.NameMatch != nil {
		return r, d.errf(n.Pos, "metric has both name and name_match; use one")
	}
	return r, nil
}
