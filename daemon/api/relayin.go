package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/push"
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
		s.bodyFail(c, fmt.Errorf("cannot read relay batch: %w", err))
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
			answer(http.StatusOK, push.Result{Version: s.opt.Tree.Version()})
			return
		} else if first != applied+1 {
			answer(http.StatusConflict, (&tree.SeqConflictError{Source: src, Applied: applied, First: first, Last: last}).Error())
			return
		}
		res, lerr, err := s.merge(push.Parts{Logs: []string{string(body)}}, "relay")
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
	if c.ContentType() == push.ContentTypeDeltas {
		var p *tree.Push
		if p, err = push.UnmarshalDeltas(body); err == nil {
			res, _, err = s.opt.Tree.MergeFrom(src, first, last, p)
		}
	} else {
		res, _, err = s.decoder.MergeFrom(s.opt.Tree, src, first, last, body)
	}
	if err == nil {
		s.pushes.Add(1)
		s.notify.kick()
		answer(http.StatusOK, push.Result{Numbers: res.Numbers, Markers: res.Markers, Version: res.Version})
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
