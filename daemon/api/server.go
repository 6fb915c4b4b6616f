// Package api serves canopy over HTTP with gin: push, get, status, and the
// routes other subsystems register (trend, graph, UI).
package api

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/tree"
)

// Options configures a Server.
type Options struct {
	Tree *tree.Tree
	// MaxBodyBytes caps a request body (default 8 MiB).
	MaxBodyBytes int64
	// Status, when set, adds subsystem sections to /status.
	Status func() map[string]any
}

// Server is canopyd's HTTP front.
type Server struct {
	opt     Options
	engine  *gin.Engine
	started time.Time
	pushes  atomic.Uint64
	errors  atomic.Uint64
}

// New builds the router with the core routes.
func New(opt Options) *Server {
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 8 << 20
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{opt: opt, engine: gin.New(), started: time.Now()}
	s.engine.Use(gin.Recovery())
	s.engine.POST("/push", s.push)
	s.engine.PUT("/push", s.push)
	s.engine.GET("/get/*key", s.get)
	s.engine.GET("/status", s.status)
	return s
}

// Router returns the gin engine so other subsystems can add routes.
func (s *Server) Router() *gin.Engine { return s.engine }

// ServeHTTP lets the Server be used as an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) push(c *gin.Context) {
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.opt.MaxBodyBytes)
	var data []byte
	ct := c.ContentType()
	switch ct {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		c.Request.Body = body
		v, ok := c.GetPostForm("json")
		if !ok {
			s.fail(c, http.StatusBadRequest, "push form has no field \"json\"")
			return
		}
		data = []byte(v)
	default:
		b, err := io.ReadAll(body)
		if err != nil {
			s.fail(c, http.StatusRequestEntityTooLarge, "cannot read push body: "+err.Error())
			return
		}
		data = b
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		s.fail(c, http.StatusBadRequest, "push body is empty")
		return
	}
	res, err := s.opt.Tree.MergeJSON(data)
	if err != nil {
		s.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	s.pushes.Add(1)
	c.JSON(http.StatusOK, res)
}

func (s *Server) fail(c *gin.Context, code int, msg string) {
	s.errors.Add(1)
	c.AbortWithStatusJSON(code, gin.H{"error": msg})
}

func (s *Server) get(c *gin.Context) {
	key := strings.TrimPrefix(c.Param("key"), "/")
	p, err := tree.ParsePattern(key)
	if err != nil {
		s.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	if c.Query("format") == "tree" {
		c.JSON(http.StatusOK, s.opt.Tree.GetTree(p))
		return
	}
	entries := s.opt.Tree.Get(p)
	if entries == nil {
		entries = []tree.Entry{}
	}
	c.Header("X-Canopy-Version", strconv.FormatUint(s.opt.Tree.Version(), 10))
	c.JSON(http.StatusOK, entries)
}

func (s *Server) status(c *gin.Context) {
	st := gin.H{
		"uptime_seconds": time.Since(s.started).Seconds(),
		"version":        s.opt.Tree.Version(),
		"nodes":          s.opt.Tree.Len(),
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
