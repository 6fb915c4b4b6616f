package api

import (
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are canopy's own health counters, in a private registry (never
// the client library's global one) served at /metrics. Other subsystems add
// theirs with Registry().MustRegister: the pipes engine its per-pipe
// ns/line and failures, trend its lag.
type Metrics struct {
	reg *prometheus.Registry
	// LinesIn counts lines (and JSON pushes) taken in, by source (http,
	// tcp, udp, tail, ...) and format (json, accesslog, statsd, graphite).
	LinesIn *prometheus.CounterVec
	// BadLines counts lines that could not be used, by source and format.
	BadLines *prometheus.CounterVec
	// IngestLines counts every line taken in by where it came from: file,
	// syslog, tcp, udp, http (canopy_ingest_lines_total{source}).
	IngestLines *prometheus.CounterVec
	// Pushes counts pushes (an HTTP /push, a JSON socket line or datagram,
	// a relayed batch) by input: http, tcp, udp, relay.
	Pushes *prometheus.CounterVec

	requests    *prometheus.CounterVec
	pullClients prometheus.Gauge
	pullSent    prometheus.Counter
	refused     *prometheus.CounterVec
}

// NewMetrics registers canopy's core metrics in reg (a new registry when
// nil), plus the Go runtime and process collectors.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		LinesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canopy_lines_in_total",
			Help: "Lines and JSON documents taken in, by source and format.",
		}, []string{"source", "format"}),
		BadLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canopy_bad_lines_total",
			Help: "Lines that could not be parsed or merged, by source and format.",
		}, []string{"source", "format"}),
		IngestLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canopy_ingest_lines_total",
			Help: "Lines taken in, by source: file, syslog, tcp, udp, http.",
		}, []string{"source"}),
		Pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canopy_pushes_total",
			Help: "Pushes taken in, by input: http, tcp, udp, relay.",
		}, []string{"input"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canopy_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		pullClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "canopy_pull_clients",
			Help: "Long-poll and event-stream clients waiting now.",
		}),
		pullSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "canopy_pull_responses_total",
			Help: "Change lists sent to /pull clients (responses and events).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canopy_refused_total",
			Help: "Requests refused by auth or a limit, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.LinesIn, m.BadLines, m.IngestLines, m.Pushes, m.requests, m.pullClients, m.pullSent, m.refused,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where other subsystems register their collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// registerTree exposes the tree's size and version.
func (s *Server) registerTree() {
	t := s.opt.Tree
	s.metrics.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "canopy_tree_nodes", Help: "Nodes in the tree.",
		}, func() float64 { return float64(t.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "canopy_tree_version", Help: "The tree's global version (bumped by every merge).",
		}, func() float64 { return float64(t.Version()) }),
	)
}

// countRequests is a middleware counting requests by route and code.
func (s *Server) countRequests() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, codeLabel(c.Writer.Status())).Inc()
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
	h := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return gin.WrapH(h)
}
