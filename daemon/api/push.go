package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/push"
)

// push takes JSON and access-log lines: form fields json and accesslog
// (urlencoded or multipart), a raw JSON body, or a text/plain body of
// access-log lines (push.DecodeBody). POST and PUT alike.
func (s *Server) push(c *gin.Context) {
	if c.Request.ContentLength > s.limits.MaxBodyBytes {
		s.limitFail(c, s.limits.BodyTooLarge())
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.limits.MaxBodyBytes)
	if err := s.gzipBody(c); err != nil {
		s.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	if c.GetHeader(headerSource) != "" {
		s.pushFrom(c)
		return
	}
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.bodyFail(c, fmt.Errorf("cannot read push body: %w", err))
		return
	}
	parts, err := push.DecodeBody(c.GetHeader("Content-Type"), b, s.limits.MaxBodyBytes)
	if err != nil {
		s.bodyFail(c, err)
		return
	}
	res, lerr, err := s.merge(parts, "http")
	s.notify.kick() // even on an error: the parts before it merged
	if lerr != nil {
		s.limitFail(c, lerr)
		return
	}
	if err != nil {
		code := http.StatusBadRequest
		var he *httpError
		if errors.As(err, &he) {
			code = he.code
		}
		s.fail(c, code, err.Error())
		return
	}
	s.pushes.Add(1)
	c.JSON(http.StatusOK, res)
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// merge checks every part against the limits first, then merges the JSON
// documents and runs the access-log lines through the pipes.
func (s *Server) merge(parts push.Parts, source string) (push.Result, *push.LimitError, error) {
	var res push.Result
	jsons, logs := parts.JSON, parts.Logs
	for i, j := range jsons {
		if len(bytes.TrimSpace(j)) == 0 {
			return res, nil, fmt.Errorf("push %s is empty", partName("json", i, len(jsons)))
		}
		if lerr := s.limits.CheckJSON(j); lerr != nil {
			return res, lerr, nil
		}
	}
	var lines []string
	for _, l := range logs {
		for ln := range strings.Lines(l) {
			ln = strings.TrimRight(ln, "\r\n")
			if len(ln) > s.limits.MaxLineBytes {
				return res, s.limits.LineTooLong(len(lines)+1, len(ln)), nil
			}
			if ln != "" {
				lines = append(lines, ln)
			}
		}
	}
	if len(logs) > 0 && len(lines) == 0 && len(jsons) == 0 {
		return res, nil, errors.New("push has no access-log lines")
	}
	if len(lines) > 0 && s.opt.AccessLog == nil {
		return res, nil, &httpError{http.StatusServiceUnavailable, "access-log pushes need the pipes engine, which is not running"}
	}
	s.metrics.Pushes.With(source).Inc()
	for i, j := range jsons {
		s.metrics.LinesIn.With(source, "json").Inc()
		s.metrics.IngestLines.With(source).Inc()
		r, err := s.decoder.Merge(s.opt.Tree, j)
		if lerr := s.limits.TreeFull(err); lerr != nil {
			s.metrics.BadLines.With(source, "json").Inc()
			if len(jsons) > 1 {
				lerr.Msg = fmt.Sprintf("%s: %s (the parts before it merged)", partName("json", i, len(jsons)), lerr.Msg)
			}
			return res, lerr, nil
		}
		if err != nil {
			s.metrics.BadLines.With(source, "json").Inc()
			if len(jsons) > 1 {
				return res, nil, fmt.Errorf("%s: %w (the parts before it merged)", partName("json", i, len(jsons)), err)
			}
			return res, nil, err
		}
		res.Numbers += r.Numbers
		res.Markers += r.Markers
		res.Version = r.Version
	}
	if len(lines) > 0 {
		r, err := s.opt.AccessLog(lines)
		s.metrics.LinesIn.With(source, "accesslog").Add(r.Lines)
		s.metrics.IngestLines.With(source).Add(r.Lines)
		s.metrics.BadLines.With(source, "accesslog").Add(r.Bad)
		if err != nil {
			return res, nil, fmt.Errorf("cannot run access-log lines through the pipes: %w", err)
		}
		res.Lines, res.BadLines, res.Errors = r.Lines, r.Bad, r.Errors
		res.Numbers += r.Numbers
		res.Markers += r.Markers
		res.Version = max(res.Version, r.Version)
	}
	if res.Version == 0 {
		res.Version = s.opt.Tree.Version()
	}
	return res, nil, nil
}

func partName(field string, i, n int) string {
	if n == 1 {
		return field
	}
	return fmt.Sprintf("%s #%d", field, i+1)
}

// bodyFail answers a body or form read error: 413 when it hit the size
// limit, else 400 saying what failed.
func (s *Server) bodyFail(c *gin.Context, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, multipart.ErrMessageTooLarge) {
		s.limitFail(c, s.limits.BodyTooLarge())
		return
	}
	s.fail(c, http.StatusBadRequest, err.Error())
}

// limitFail answers a request over a limit, counted by the limit's key.
func (s *Server) limitFail(c *gin.Context, e *push.LimitError) {
	s.metrics.refused.With(e.Key).Inc()
	s.fail(c, e.Code, e.Msg)
}
