// Package api serves canopy over HTTP with gin: push, get, status, and the
// routes other subsystems register (trend, graph, UI).
package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/auth"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/metric"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Options configures a Server.
type Options struct {
	Tree *tree.Tree
	// MaxBodyBytes caps a request body (default 8 MiB); overrides
	// Limits.MaxBodyBytes when set.
	MaxBodyBytes int64
	// Limits is the `limits` config section (zero values: defaults).
	Limits config.Limits
	// Tokens, when non-empty, require bearer tokens (the `tokens` section).
	Tokens []config.Token
	// AccessLog runs access-log lines through the pipes (form field
	// accesslog, text/plain bodies); nil answers such pushes with 503.
	AccessLog push.AccessLogFunc
	// Registry is the private metric registry served at /metrics
	// (a new one when nil); see Server.Metrics.
	Registry *metric.Registry
	// Status, when set, adds subsystem sections to /status.
	Status func() map[string]any
	// FailedLines, when set, is how many access-log lines did not parse
	// since the daemon started (the failed requests of /report).
	FailedLines func() uint64
}

// Server is canopyd's HTTP front.
type Server struct {
	opt Options
	// Reused by relay batches (relayin.go): bodies and gzip readers.
	batchBuffers, gzipReaders sync.Pool
	getBuffers                sync.Pool // /get answers (*[]byte)
	engine                    *gin.Engine
	started                   time.Time
	pushes                    atomic.Uint64
	errors                    atomic.Uint64

	decoder push.Decoder // JSON pushes and relay batches
	auth    *auth.Checker
	limits  push.Limits
	metrics *Metrics
	notify  *notifier
	polls   atomic.Int64 // clients holding a long-poll slot
	cache   changeCache  // change lists shared by clients waking together
	// /pull keys parsed (key → *key.Pattern), and how many.
	patterns  sync.Map
	npatterns atomic.Int32
	// The request counters of the two /pull routes, for pullFast.
	pullCounts [2]atomic.Pointer[metrics.Counter]
	// sseWriteTimeout overrides the const of that name (tests).
	sseWriteTimeout time.Duration
}

// New builds the router with the core routes.
func New(opt Options) *Server {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{opt: opt, engine: gin.New(), started: time.Now()}
	s.limits = push.LimitsFrom(opt.Limits)
	if opt.MaxBodyBytes > 0 {
		s.limits.MaxBodyBytes = opt.MaxBodyBytes
	}
	s.auth = auth.New(opt.Tokens)
	s.metrics = NewMetrics(opt.Registry)
	s.registerTree()
	s.notify = newNotifier(opt.Tree)
	// Auth runs before every route, including those other subsystems add.
	s.engine.Use(gin.Recovery(), s.countRequests(), s.authMiddleware())
	s.engine.POST("/push", s.push)
	s.engine.PUT("/push", s.push)
	s.engine.POST("/push/seq", s.pushSeq)
	s.engine.GET("/get", s.get)
	s.engine.GET("/get/*key", s.get)
	s.engine.GET("/status", s.status)
	s.engine.GET("/pull", s.pull)
	s.engine.GET("/pull/*key", s.pull)
	s.engine.GET("/diff", s.diff)
	s.engine.GET("/diff/*keys", s.diff)
	s.engine.GET("/metrics", s.metricsHandler())
	s.engine.GET("/search", s.search)
	s.engine.GET("/report", s.report)
	// An unknown path is an error like any other, naming what was asked.
	s.engine.NoRoute(func(c *gin.Context) {
		AbortError(c, http.StatusNotFound, fmt.Sprintf("no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	return s
}

// Metrics returns canopy's metrics; other subsystems register their
// collectors in Metrics().Registry().
func (s *Server) Metrics() *Metrics { return s.metrics }

// Auth returns the token checker (sockets use it for non-loopback peers).
func (s *Server) Auth() *auth.Checker { return s.auth }

// AccessLog returns the pipes hook (nil without the pipes engine).
func (s *Server) AccessLog() push.AccessLogFunc { return s.opt.AccessLog }

// Limits returns the limits in force, defaults applied.
func (s *Server) Limits() push.Limits { return s.limits }

// Close ends waiting long-polls and event streams (call it on shutdown,
// e.g. from http.Server.RegisterOnShutdown).
func (s *Server) Close() { s.notify.close() }

// Router returns the gin engine so other subsystems can add routes.
func (s *Server) Router() *gin.Engine { return s.engine }

// ServeHTTP lets the Server be used as an http.Handler. GET /pull goes to
// a plain handler first (see pullFast); everything else, and any /pull
// that fails, to gin.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		if k, route, ok := pullPath(r.URL.Path); ok && s.pullFast(w, r, k, route) {
			return
		}
	}
	s.engine.ServeHTTP(w, r)
}

func (s *Server) fail(c *gin.Context, code int, msg string) {
	s.errors.Add(1)
	AbortError(c, code, msg)
}

func (s *Server) get(c *gin.Context) {
	// ?key= carries any key whole (slashes, %, spaces); the path form is
	// kept for curl.
	k := query(c.Request.URL.RawQuery, "key")
	if k == "" {
		k = strings.TrimPrefix(c.Param("key"), "/")
	}
	p, err := key.Parse(k)
	if err != nil {
		s.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	if c.Query("format") == "tree" {
		c.JSON(http.StatusOK, s.opt.Tree.GetTree(p))
		return
	}
	// Straight from the tree into JSON: a wide read builds no entries.
	buf, _ := s.getBuffers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	body, ver := s.opt.Tree.AppendJSON((*buf)[:0], p)
	c.Header("X-Canopy-Version", strconv.FormatUint(ver, 10))
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
	if cap(body) <= 4<<20 { // a huge read's buffer is not kept
		*buf = body
		s.getBuffers.Put(buf)
	}
}

func (s *Server) status(c *gin.Context) {
	st := gin.H{
		"uptime_seconds": time.Since(s.started).Seconds(),
		"version":        s.opt.Tree.Version(),
		"nodes":          s.opt.Tree.Len(),
		"tree":           s.treeStatus(),
		"pushes":         s.pushes.Load(),
		"push_errors":    s.errors.Load(),
	}
	if s.opt.Status != nil {
		for k, v := range s.opt.Status() {
			st[k] = v
		}
	}
	c.JSON(http.StatusOK, st)
}
