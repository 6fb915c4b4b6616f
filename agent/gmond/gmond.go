// Package gmond bridges an existing Ganglia gmond into canopy: it reads the
// XML gmond writes to anyone who connects to its TCP port (8649) and turns
// every fresh numeric metric into a push, ganglia,<cluster>,<host>,<metric>
// (defaultaction average), so a Ganglia cluster feeds canopy unchanged.
package gmond

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/agent/push"
)

// XML is gmond's answer (the parts used).
type XML struct {
	Clusters []Cluster `xml:"CLUSTER"`
	// Grids appear when the source is a gmetad.
	Grids []struct {
		Clusters []Cluster `xml:"CLUSTER"`
	} `xml:"GRID"`
}

// Cluster is a <CLUSTER>.
type Cluster struct {
	Name  string `xml:"NAME,attr"`
	Hosts []Host `xml:"HOST"`
}

// Host is a <HOST>.
type Host struct {
	Name    string   `xml:"NAME,attr"`
	IP      string   `xml:"IP,attr"`
	TN      int      `xml:"TN,attr"`
	DMax    int      `xml:"DMAX,attr"`
	Metrics []Metric `xml:"METRIC"`
}

// Metric is a <METRIC>.
type Metric struct {
	Name  string `xml:"NAME,attr"`
	Val   string `xml:"VAL,attr"`
	Type  string `xml:"TYPE,attr"` // string, int8…uint32, float, double, timestamp
	Units string `xml:"UNITS,attr"`
	TN    int    `xml:"TN,attr"`
	TMax  int    `xml:"TMAX,attr"`
}

// Parse decodes gmond XML (its DTD and ISO-8859-1 declaration included).
func Parse(r io.Reader) (*XML, error) {
	var x XML
	d := xml.NewDecoder(r)
	d.Strict = false
	d.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		return in, nil // names and numbers are ASCII
	}
	if err := d.Decode(&x); err != nil {
		return nil, fmt.Errorf("cannot parse gmond XML: %w", err)
	}
	for _, g := range x.Grids {
		x.Clusters = append(x.Clusters, g.Clusters...)
	}
	return &x, nil
}

// Fetch connects to addr and reads its XML.
func Fetch(ctx context.Context, addr string, timeout time.Duration) (*XML, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach gmond at %s: %w", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	return Parse(io.LimitReader(c, 256<<20))
}

// Push turns the fresh numeric metrics into one push object. A metric is
// stale when gmond has not heard of it for more than 4×TMAX (gmetad's
// rule); a host is left out when it is older than DMAX.
func (x *XML) Push(prefix string) (json.RawMessage, int) {
	root := map[string]any{}
	n := 0
	for _, c := range x.Clusters {
		cname := clean(c.Name, "cluster")
		for _, h := range c.Hosts {
			if h.DMax > 0 && h.TN > h.DMax {
				continue
			}
			hm := map[string]any{}
			for _, m := range h.Metrics {
				if m.Type == "string" || m.Type == "timestamp" || m.Name == "" {
					continue
				}
				if m.TMax > 0 && m.TN > 4*m.TMax {
					continue
				}
				v, err := strconv.ParseFloat(strings.TrimSpace(m.Val), 64)
				if err != nil || v != v || v > 1e300 || v < -1e300 {
					continue
				}
				// gmond's UNITS go along as the node's unit (the daemon
				// shows them with the value).
				if u := strings.TrimSpace(m.Units); u != "" && len(u) <= 64 {
					hm[clean(m.Name, "metric")] = map[string]any{"": v, "defaultunit": u}
				} else {
					hm[clean(m.Name, "metric")] = v
				}
				n++
			}
			if len(hm) > 0 {
				cm, _ := root[cname].(map[string]any)
				if cm == nil {
					cm = map[string]any{}
					root[cname] = cm
				}
				cm[clean(h.Name, "host")] = hm
			}
		}
	}
	if n == 0 {
		return nil, 0
	}
	b, _ := json.Marshal(map[string]any{prefix: root, "defaultaction": "average"})
	return b, n
}

// clean makes a tree name of a gmond name (never empty).
func clean(s, def string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	return s
}

// Bridge polls one gmond.
type Bridge struct {
	Addr    string
	Every   time.Duration
	Prefix  string
	Timeout time.Duration
	Sink    func(push.Batch) error
	Logf    func(format string, args ...any)
}

// Run polls until ctx ends.
func (b *Bridge) Run(ctx context.Context) {
	if b.Timeout <= 0 {
		b.Timeout = 10 * time.Second
	}
	down := false
	t := time.NewTicker(b.Every)
	defer t.Stop()
	for {
		x, err := Fetch(ctx, b.Addr, b.Timeout)
		switch {
		case err != nil:
			if !down && b.Logf != nil {
				b.Logf("gmond bridge: %v", err)
			}
			down = true
		default:
			if down && b.Logf != nil {
				b.Logf("gmond bridge: reading %s again", b.Addr)
			}
			down = false
			if j, n := x.Push(b.Prefix); n > 0 {
				if err := b.Sink(push.Batch{JSON: []json.RawMessage{j}}); err != nil && b.Logf != nil {
					b.Logf("gmond bridge: %v", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
