package api

import (
	"fmt"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/metric"
)

// Metrics are canopy's own health counters, in a private registry served
// at /metrics. Other subsystems add theirs with Registry().Collect: the
// pipes engine its per-pipe ns/line and failures, trend its lag.
type Metrics struct {
	reg *metric.Registry
	// LinesIn counts lines (and JSON pushes) taken in, by source (http,
	// tcp, udp, tail, ...) and format (json, accesslog, statsd, graphite).
	LinesIn *metric.CounterVec
	// BadLines counts lines that could not be used, by source and format.
	BadLines *metric.CounterVec
	// IngestLines counts every line taken in by where it came from: file,
	// syslog, tcp, udp, http (canopy_ingest_lines_total{source}).
	IngestLines *metric.CounterVec
	// Pushes counts pushes (an HTTP /push, a JSON socket line or datagram,
	// a relayed batch) by input: http, tcp, udp, relay.
	Pushes *metric.CounterVec

	requests    *metric.CounterVec
	pullClients *metrics.Gauge
	pullSent    *metrics.Counter
	refused     *metric.CounterVec
}

// NewMetrics declares canopy's core metrics in reg (a new registry with the
// Go runtime and process metrics when nil).
func NewMetrics(reg *metric.Registry) *Metrics {
	if reg == nil {
		reg = metric.NewRegistry(true)
	}
	return &Metrics{
		reg:         reg,
		LinesIn:     reg.NewCounterVec("canopy_lines_in_total", "Lines and JSON documents taken in, by source and format.", "source", "format"),
		BadLines:    reg.NewCounterVec("canopy_bad_lines_total", "Lines that could not be parsed or merged, by source and format.", "source", "format"),
		IngestLines: reg.NewCounterVec("canopy_ingest_lines_total", "Lines taken in, by source: file, syslog, tcp, udp, http.", "source"),
		Pushes:      reg.NewCounterVec("canopy_pushes_total", "Pushes taken in, by input: http, tcp, udp, relay.", "input"),
		requests:    reg.NewCounterVec("canopy_http_requests_total", "HTTP requests by route and status code.", "route", "code"),
		pullClients: reg.NewGauge("canopy_pull_clients", "Long-poll and event-stream clients waiting now."),
		pullSent:    reg.NewCounter("canopy_pull_responses_total", "Change lists sent to /pull clients (responses and events)."),
		refused:     reg.NewCounterVec("canopy_refused_total", "Requests refused by auth or a limit, by reason.", "reason"),
	}
}

// Registry is where other subsystems add their collectors.
func (m *Metrics) Registry() *metric.Registry { return m.reg }

// registerTree exposes the tree's size and version.
func (s *Server) registerTree() {
	t := s.opt.Tree
	s.metrics.reg.NewGaugeFunc("canopy_tree_nodes", "Nodes in the tree.", func() float64 { return float64(t.Len()) })
	s.metrics.reg.NewGaugeFunc("canopy_tree_version", "The tree's global version (bumped by every merge).", func() float64 { return float64(t.Version()) })
	s.metrics.reg.NewGaugeFunc("canopy_tree_max_nodes", "The tree's node limit (limits.max_tree_nodes; 0: none).", func() float64 {
		m, _ := t.Capacity()
		return float64(m)
	})
	s.metrics.reg.NewGaugeFunc("canopy_tree_full", "1 when the tree is at its node limit: new keys are refused.", func() float64 {
		if full, _, _ := s.treeFull(); full {
			return 1
		}
		return 0
	})
	s.metrics.reg.NewCounterFunc("canopy_tree_refused_nodes_total", "New nodes refused because the tree was at its node limit (pushes, pipes, sockets).", func() float64 {
		_, r := t.Capacity()
		return float64(r)
	})
}

// treeFull says whether the tree is at its limit, and its size and limit.
func (s *Server) treeFull() (full bool, nodes, maxNodes int) {
	maxNodes, _ = s.opt.Tree.Capacity()
	nodes = s.opt.Tree.Len()
	return maxNodes > 0 && nodes >= maxNodes, nodes, maxNodes
}

// treeStatus is /status's "tree" section: size against the node limit.
func (s *Server) treeStatus() gin.H {
	full, nodes, maxNodes := s.treeFull()
	_, refused := s.opt.Tree.Capacity()
	st := gin.H{"max_nodes": maxNodes, "full": full, "refused_nodes": refused} // "nodes" is /status's own
	switch {
	case full:
		st["error"] = fmt.Sprintf("tree is full: %d nodes, the limit (limits.max_tree_nodes); pushes with new keys are refused, existing keys still update", nodes)
	case refused > 0:
		st["error"] = fmt.Sprintf("%d new nodes were refused: they would have grown the tree past %d nodes (limits.max_tree_nodes)", refused, maxNodes)
	}
	return st
}

// countRequests is a middleware counting requests by route and code.
func (s *Server) countRequests() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.requests.With(route, codeLabel(c.Writer.Status())).Inc()
	}
}

func codeLabel(code int) string {
	var b [3]byte
	if code < 100 || code > 999 {
		return "other"
	}
	b[0], b[1], b[2] = byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10)
	return string(b[:])
}

func (s *Server) metricsHandler() gin.HandlerFunc {
	return gin.WrapH(s.metrics.reg.Handler())
}
