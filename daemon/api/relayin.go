package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/tree"
)

// The receiving side of relay forwarding (daemon/relay): a batch carries its
// source and the range of record numbers it holds, and merges exactly once
// (tree.MergeFrom). Answers carry the numbers merged and durable (in the
// last snapshot) so the relay knows what it may resend and what it may drop.
const (
	headerSource   = "X-Canopy-Source"
	headerSeqFirst = "X-Canopy-Seq-First"
	headerSeqLast  = "X-Canopy-Seq-Last"
	headerApplied  = "X-Canopy-Applied"
	headerDurable  = "X-Canopy-Durable"
)

// pushSeq answers POST /push/seq?source=ID: what this daemon holds from a relay.
func (s *Server) pushSeq(c *gin.Context) {
	src := c.Query("source")
	if src == "" {
		s.fail(c, http.StatusBadRequest, "source is missing")
		return
	}
	applied, durable := s.opt.Tree.SourceSeq(src)
	c.JSON(http.StatusOK, gin.H{"applied": applied, "durable": durable})
}

// Relay batches are large and come one after another: their buffers and
// gzip readers are reused rather than allocated (and collected) per batch.
func (s *Server) putBatchBuffer(b *bytes.Buffer) {
	if b.Cap() <= 64<<20 {
		s.batchBuffers.Put(b)
	}
}

// pooledGzip is a gzip reader that goes back to the pool when the request
// body is closed (once).
type pooledGzip struct {
	zr   *gzip.Reader
	pool *sync.Pool
}

func (z *pooledGzip) Read(b []byte) (int, error) {
	if z.zr == nil {
		return 0, io.ErrClosedPipe
	}
	return z.zr.Read(b)
}

func (z *pooledGzip) Close() error {
	if z.zr != nil {
		z.pool.Put(z.zr)
		z.zr = nil
	}
	return nil
}

// gzipBody replaces a gzip-encoded request body with its decoded form,
// bounded like any body.
func (s *Server) gzipBody(c *gin.Context) error {
	if !strings.EqualFold(c.GetHeader("Content-Encoding"), "gzip") {
		return nil
	}
	zr, _ := s.gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(c.Request.Body)
	} else {
		err = zr.Reset(c.Request.Body)
	}
	if err != nil {
		return fmt.Errorf("body is not gzip: %w", err)
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, &pooledGzip{zr, &s.gzipReaders}, s.limits.MaxBodyBytes)
	c.Request.Header.Del("Content-Encoding")
	c.Request.ContentLength = -1
	return nil
}

// pushFrom merges a relay batch exactly once.
func (s *Server) pushFrom(c *gin.Context) {
	src := c.GetHeader(headerSource)
	first, err1 := strconv.ParseUint(c.GetHeader(headerSeqFirst), 10, 64)
	last, err2 := strconv.ParseUint(c.GetHeader(headerSeqLast), 10, 64)
	if err1 != nil || err2 != nil || first == 0 || last < first {
		s.fail(c, http.StatusBadRequest, "relay batch needs "+headerSeqFirst+" and "+headerSeqLast+" (1 <= first <= last)")
		return
	}
	answer := func(code int, body any) {
		applied, durable := s.opt.Tree.SourceSeq(src)
		c.Header(headerApplied, strconv.FormatUint(applied, 10))
		c.Header(headerDurable, strconv.FormatUint(durable, 10))
		if code >= 400 {
			s.fail(c, code, fmt.Sprint(body))
			return
		}
		c.JSON(code, body)
	}
	buf, _ := s.batchBuffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer s.putBatchBuffer(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(c.Request.Body); err != nil {
		s.bodyFail(c, err, "cannot read relay batch")
		return
	}
	c.Request.Body.Close() // the gzip reader, if any, can serve the next batch
	body := buf.Bytes()
	empty := &tree.Push{}
	if c.ContentType() == "text/plain" {
		// Access-log lines run through the pipes here; the batch number is
		// recorded after them (exactly once unless this process dies in
		// between).
		if applied, _ := s.opt.Tree.SourceSeq(src); last <= applied {
			answer(http.StatusOK, PushResult{Version: s.opt.Tree.Version()})
			return
		} else if first != applied+1 {
			answer(http.StatusConflict, (&tree.SeqConflictError{Source: src, Applied: applied, First: first, Last: last}).Error())
			return
		}
		res, lerr, err := s.merge(nil, []string{string(body)}, "relay")
		if _, _, serr := s.opt.Tree.MergeFrom(src, first, last, empty); serr != nil && err == nil {
			err = serr
		}
		switch {
		case lerr != nil:
			answer(lerr.Code, lerr.Error())
		case err != nil:
			answer(http.StatusBadRequest, err.Error())
		default:
			answer(http.StatusOK, res)
		}
		return
	}
	var res tree.MergeResult
	var err error
	if c.ContentType() == ContentTypeDeltas {
		var p *tree.Push
		if p, err = UnmarshalDeltas(body); err == nil {
			res, _, err = s.opt.Tree.MergeFrom(src, first, last, p)
		}
	} else {
		res, _, err = s.opt.Tree.MergeJSONFrom(src, first, last, body)
	}
	if err == nil {
		s.pushes.Add(1)
		s.notify.kick()
		answer(http.StatusOK, PushResult{Numbers: res.Numbers, Markers: res.Markers, Version: res.Version})
		return
	}
	var ce *tree.SeqConflictError
	if errors.As(err, &ce) {
		answer(http.StatusConflict, err.Error())
		return
	}
	// Content this daemon refuses: consume the numbers so the relay moves
	// on instead of resending it forever, and say why.
	s.opt.Tree.MergeFrom(src, first, last, empty)
	answer(http.StatusBadRequest, err.Error())
}

// ContentTypeDeltas labels relay batches of parsed deltas (from pipes run
// at the relay, or from push sockets): a JSON list of objects
// {"actions": [{"p": path, "a": action}], "deltas": [{"p": path, "v": value,
// "n": samples} or {"p": path, "m": marker}]}. Unlike a JSON push, it keeps
// how many samples an average stands for, so an average forwarded per batch
// weighs as much as the samples it was made of.
const ContentTypeDeltas = "application/x-canopy-deltas+json"

type wireDeltas struct {
	Actions []wireAction `json:"actions,omitempty"`
	Deltas  []wireDelta  `json:"deltas"`
}

type wireAction struct {
	Path   []string `json:"p"`
	Action string   `json:"a"`
}

type wireDelta struct {
	Path    []string `json:"p"`
	Value   float64  `json:"v,omitempty"`
	Marker  *string  `json:"m,omitempty"`
	Samples uint32   `json:"n,omitempty"`
}

// MarshalDeltas encodes p as one object of a ContentTypeDeltas batch.
func MarshalDeltas(p *tree.Push) ([]byte, error) {
	w := wireDeltas{Deltas: make([]wireDelta, len(p.Deltas))}
	p.Actions(func(path []string, a tree.Action) {
		w.Actions = append(w.Actions, wireAction{path, a.String()})
	})
	for i, d := range p.Deltas {
		w.Deltas[i] = wireDelta{Path: d.Path, Value: d.Value}
		if d.IsMarker {
			m := d.Marker
			w.Deltas[i] = wireDelta{Path: d.Path, Marker: &m}
		} else if d.Samples > 1 {
			w.Deltas[i].Samples = d.Samples
		}
	}
	return json.Marshal(w)
}

// UnmarshalDeltas decodes a ContentTypeDeltas batch into one push (the tree
// checks paths and values when it merges).
func UnmarshalDeltas(data []byte) (*tree.Push, error) {
	var list []wireDeltas
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("relay deltas: %w", err)
	}
	p := &tree.Push{}
	for _, w := range list {
		for _, a := range w.Actions {
			act, err := tree.ParseAction(a.Action)
			if err != nil {
				return nil, fmt.Errorf("relay deltas: %s: %w", tree.JoinKey(a.Path), err)
			}
			p.AddAction(a.Path, act)
		}
		for _, d := range w.Deltas {
			if d.Marker != nil {
				p.Deltas = append(p.Deltas, tree.Delta{Path: d.Path, Marker: *d.Marker, IsMarker: true})
			} else {
				p.Deltas = append(p.Deltas, tree.Delta{Path: d.Path, Value: d.Value, Samples: d.Samples})
			}
		}
	}
	return p, nil
}
