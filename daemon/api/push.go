package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// AccessLogResult says what running access-log lines through the pipes did.
type AccessLogResult struct {
	Lines   int    `json:"lines"`     // lines read
	Bad     int    `json:"bad_lines"` // lines that did not parse
	Numbers int    `json:"numbers"`   // numbers the pipes merged
	Markers int    `json:"markers"`
	Version uint64 `json:"version"`
	// Errors samples why lines were bad ("line 3: ..."), a few at most.
	Errors []string `json:"errors,omitempty"`
}

// AccessLogFunc parses access-log lines, runs them through the pipes and
// merges what the pipes emit. The pipes engine provides it; sockets with
// format accesslog use it too.
type AccessLogFunc func(lines []string) (AccessLogResult, error)

// PushResult is the answer to a push: what merged.
type PushResult struct {
	Numbers  int      `json:"numbers"`
	Markers  int      `json:"markers"`
	Lines    int      `json:"lines"`
	BadLines int      `json:"bad_lines"`
	Version  uint64   `json:"version"`
	Errors   []string `json:"errors,omitempty"`
}

// push takes JSON and access-log lines: form fields json and accesslog
// (urlencoded or multipart), a raw JSON body, or a text/plain body of
// access-log lines. POST and PUT alike.
func (s *Server) push(c *gin.Context) {
	max := s.limits.MaxBodyBytes
	if c.Request.ContentLength > max {
		s.limitFail(c, bodyTooLarge(max), "max_body_bytes")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
	if err := s.gzipBody(c); err != nil {
		s.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	if c.GetHeader(headerSource) != "" {
		s.pushFrom(c)
		return
	}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var jsons, logs []string
	if mt == "application/x-www-form-urlencoded" {
		// `curl -d '{...}'` sends raw JSON labelled as a form: take it as JSON.
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			s.bodyFail(c, err, "cannot read push body")
			return
		}
		if t := bytes.TrimSpace(b); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			mt = "application/json"
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(b))
	}
	switch mt {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		var err error
		if mt == "multipart/form-data" {
			err = c.Request.ParseMultipartForm(max)
		} else {
			err = c.Request.ParseForm()
		}
		if err != nil {
			s.bodyFail(c, err, "cannot read push form")
			return
		}
		jsons = c.Request.PostForm["json"]
		logs = c.Request.PostForm["accesslog"]
		if c.Request.MultipartForm != nil {
			jsons = append(jsons, formFiles(c, "json")...)
			logs = append(logs, formFiles(c, "accesslog")...)
		}
		if len(jsons) == 0 && len(logs) == 0 {
			s.fail(c, http.StatusBadRequest, `push form has neither a "json" nor an "accesslog" field`)
			return
		}
	default:
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			s.bodyFail(c, err, "cannot read push body")
			return
		}
		if mt == "text/plain" {
			logs = []string{string(b)}
		} else {
			jsons = []string{string(b)}
		}
	}
	res, lerr, err := s.merge(jsons, logs, "http")
	s.notify.kick() // even on an error: the parts before it merged
	if lerr != nil {
		s.limitFail(c, lerr, "")
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

// formFiles reads uploaded files of a multipart field (curl -F json=@f).
func formFiles(c *gin.Context, field string) []string {
	var out []string
	for _, fh := range c.Request.MultipartForm.File[field] {
		f, err := fh.Open()
		if err != nil {
			continue
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// merge checks every part against the limits first, then merges the JSON
// documents and runs the access-log lines through the pipes.
func (s *Server) merge(jsons, logs []string, source string) (PushResult, *LimitError, error) {
	var res PushResult
	for i, j := range jsons {
		if strings.TrimSpace(j) == "" {
			return res, nil, fmt.Errorf("push %s is empty", partName("json", i, len(jsons)))
		}
		if err := CheckJSON([]byte(j), s.limits.MaxJSONDepth, s.limits.MaxPushNodes); err != nil {
			return res, err.(*LimitError), nil
		}
	}
	var lines []string
	for _, l := range logs {
		for ln := range strings.Lines(l) {
			ln = strings.TrimRight(ln, "\r\n")
			if len(ln) > s.limits.MaxLineBytes {
				return res, lineTooLong(len(lines)+1, len(ln), s.limits.MaxLineBytes), nil
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
	for i, j := range jsons {
		s.metrics.LinesIn.WithLabelValues(source, "json").Inc()
		r, err := s.opt.Tree.MergeJSON([]byte(j))
		if err != nil {
			s.metrics.BadLines.WithLabelValues(source, "json").Inc()
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
		s.metrics.LinesIn.WithLabelValues(source, "accesslog").Add(float64(r.Lines))
		s.metrics.BadLines.WithLabelValues(source, "accesslog").Add(float64(r.Bad))
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

// bodyFail answers a body read error: 413 when it hit the size limit.
func (s *Server) bodyFail(c *gin.Context, err error, what string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || strings.Contains(err.Error(), "too large") {
		s.limitFail(c, bodyTooLarge(s.limits.MaxBodyBytes), "max_body_bytes")
		return
	}
	s.fail(c, http.StatusBadRequest, what+": "+err.Error())
}

func (s *Server) limitFail(c *gin.Context, e *LimitError, reason string) {
	if reason == "" {
		reason = limitReason(e.Msg)
	}
	s.metrics.refused.WithLabelValues(reason).Inc()
	s.fail(c, e.Code, e.Msg)
}

// limitReason pulls the config key out of a limit message for the metric.
func limitReason(msg string) string {
	i := strings.LastIndex(msg, "(limits.")
	if i < 0 {
		return "limit"
	}
	r := msg[i+len("(limits."):]
	if j := strings.IndexByte(r, ')'); j >= 0 {
		r = r[:j]
	}
	return r
}
