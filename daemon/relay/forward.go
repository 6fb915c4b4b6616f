package relay

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canopy-dev/canopy/daemon/push"
)

// Record kinds: the first byte of a queue record.
const (
	kindJSON      = 'j' // a push: a JSON object or list of objects
	kindAccessLog = 'a' // raw access-log lines
	kindDeltas    = 'd' // parsed deltas, as push.MarshalDeltas writes them
)

// Headers of the exactly-once protocol between a relay and a daemon.
const (
	HeaderSource   = "X-Canopy-Source"
	HeaderSeqFirst = "X-Canopy-Seq-First"
	HeaderSeqLast  = "X-Canopy-Seq-Last"
	HeaderApplied  = "X-Canopy-Applied"
	HeaderDurable  = "X-Canopy-Durable"
)

// upstream forwards one queue to one daemon, in order, exactly once: every
// request carries the range of record numbers it holds, the daemon skips
// what it merged already and refuses gaps, and records leave the queue only
// once the daemon's snapshot holds them.
type upstream struct {
	cfg      Upstream
	q        *queue
	source   string
	client   *http.Client
	compress bool
	batchMax int
	retry    time.Duration
	maxRetry time.Duration
	logf     func(string, ...any)

	next      atomic.Uint64 // next record number to send
	applied   atomic.Uint64 // the daemon's last merged number, as last heard
	durable   atomic.Uint64
	sentRecs  atomic.Uint64
	sentBytes atomic.Uint64 // on the wire (compressed)
	rawBytes  atomic.Uint64
	failures  atomic.Uint64
	up        atomic.Bool
	zw        *gzip.Writer // reused: a new one allocates its tables anew
	mu        sync.Mutex
	lastErr   string
	lastOK    time.Time
}

// errConflict asks the loop to resend from what the daemon has.
type errConflict struct{ applied uint64 }

func (e errConflict) Error() string {
	return fmt.Sprintf("daemon has up to %d; resending from there", e.applied)
}

func (u *upstream) run(ctx context.Context) {
	backoff := u.retry
	synced := false
	release := time.NewTicker(time.Second)
	defer release.Stop()
	for ctx.Err() == nil {
		if !synced {
			if err := u.sync(ctx); err != nil {
				u.fail(err)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(backoff*2, u.maxRetry)
				continue
			}
			synced = true
		}
		recs, next, err := u.q.Read(u.next.Load(), u.batchMax)
		if err != nil {
			u.fail(err)
			if !sleep(ctx, backoff) {
				return
			}
			continue
		}
		if len(recs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-u.q.notify:
			case <-release.C:
				if u.durable.Load() < u.applied.Load() {
					if err := u.sync(ctx); err != nil {
						u.fail(err)
						synced = false
					}
				}
			}
			continue
		}
		first := u.next.Load()
		// A batch is one kind: cut at the first record of another kind.
		n := 1
		for n < len(recs) && recs[n][0] == recs[0][0] {
			n++
		}
		last := first + uint64(n) - 1
		if n < len(recs) {
			next = last + 1
		}
		err = u.send(ctx, recs[:n], first, last)
		if ce, ok := err.(errConflict); ok {
			u.next.Store(ce.applied + 1)
			continue
		}
		if err != nil {
			u.fail(err)
			synced = false
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, u.maxRetry)
			continue
		}
		backoff = u.retry
		u.next.Store(next)
		u.sentRecs.Add(uint64(n))
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (u *upstream) fail(err error) {
	u.failures.Add(1)
	u.up.Store(false)
	u.mu.Lock()
	first := u.lastErr == ""
	u.lastErr = err.Error()
	u.mu.Unlock()
	if first {
		u.logf("relay: upstream %s: %v (retrying; pushes are queued on disk)", u.cfg.URL, err)
	}
}

func (u *upstream) ok(applied, durable uint64) {
	u.applied.Store(applied)
	if durable > u.durable.Load() {
		u.durable.Store(durable)
	}
	u.q.Release(u.durable.Load())
	u.up.Store(true)
	u.mu.Lock()
	if u.lastErr != "" {
		u.logf("relay: upstream %s is back", u.cfg.URL)
	}
	u.lastErr = ""
	u.lastOK = time.Now()
	u.mu.Unlock()
}

// sync asks the daemon what it holds from this relay and resends from there.
func (u *upstream) sync(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(u.cfg.URL, "/")+"/push/seq?source="+u.source, nil)
	if err != nil {
		return err
	}
	u.auth(req)
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST /push/seq: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var st struct{ Applied, Durable uint64 }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("POST /push/seq: %w", err)
	}
	u.next.Store(st.Applied + 1)
	u.ok(st.Applied, st.Durable)
	return nil
}

func (u *upstream) auth(req *http.Request) {
	if u.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+u.cfg.Token)
	}
}

// send posts records first..last as one request.
func (u *upstream) send(ctx context.Context, recs [][]byte, first, last uint64) error {
	ct := "application/json"
	var pieces [][]byte
	if recs[0][0] == kindAccessLog {
		ct = "text/plain"
		for _, r := range recs {
			pieces = append(pieces, r[1:])
			if r[len(r)-1] != '\n' {
				pieces = append(pieces, newline)
			}
		}
	} else {
		if recs[0][0] == kindDeltas {
			ct = push.ContentTypeDeltas
		}
		pieces = jsonList(recs)
	}
	raw := 0
	for _, p := range pieces {
		raw += len(p)
	}
	var body io.Reader = newPiecesReader(pieces)
	size := raw
	if u.compress {
		var zbuf bytes.Buffer
		zbuf.Grow(raw/8 + 512)
		if u.zw == nil {
			u.zw, _ = gzip.NewWriterLevel(&zbuf, gzip.BestSpeed)
		} else {
			u.zw.Reset(&zbuf)
		}
		for _, p := range pieces {
			u.zw.Write(p)
		}
		if err := u.zw.Close(); err != nil {
			return err
		}
		body, size = bytes.NewReader(zbuf.Bytes()), zbuf.Len()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(u.cfg.URL, "/")+"/push", body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(size)
	req.Header.Set("Content-Type", ct)
	if u.compress {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set(HeaderSource, u.source)
	req.Header.Set(HeaderSeqFirst, strconv.FormatUint(first, 10))
	req.Header.Set(HeaderSeqLast, strconv.FormatUint(last, 10))
	u.auth(req)
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot push: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	applied, _ := strconv.ParseUint(resp.Header.Get(HeaderApplied), 10, 64)
	durable, _ := strconv.ParseUint(resp.Header.Get(HeaderDurable), 10, 64)
	switch {
	case resp.StatusCode == http.StatusConflict && resp.Header.Get(HeaderApplied) != "":
		u.ok(applied, durable)
		return errConflict{applied}
	case resp.StatusCode == http.StatusOK:
		u.sentBytes.Add(uint64(size))
		u.rawBytes.Add(uint64(raw))
		u.ok(applied, durable)
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		// The daemon refuses the content itself (it was accepted here
		// before the daemon's rules changed?): retrying cannot help. Log it
		// and skip, or the queue would stall forever.
		u.logf("relay: upstream %s refused records %d-%d for good: %s", u.cfg.URL, first, last, bytes.TrimSpace(msg))
		u.ok(applied, durable)
		return nil
	default:
		return fmt.Errorf("push: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
}

var (
	newline   = []byte{'\n'}
	comma     = []byte{','}
	listOpen  = []byte{'['}
	listClose = []byte{']'}
)

// jsonList returns the pieces of one JSON list holding the objects of the
// JSON push records (each an object or a list of objects), without copying
// them.
func jsonList(recs [][]byte) [][]byte {
	pieces := make([][]byte, 0, 2*len(recs)+1)
	pieces = append(pieces, listOpen)
	for _, r := range recs {
		v := bytes.TrimSpace(r[1:])
		if len(v) > 0 && v[0] == '[' {
			v = bytes.TrimSpace(v[1 : len(v)-1])
		}
		if len(v) == 0 {
			continue
		}
		if len(pieces) > 1 {
			pieces = append(pieces, comma)
		}
		pieces = append(pieces, v)
	}
	return append(pieces, listClose)
}

// piecesReader reads a list of byte slices as one stream.
type piecesReader struct{ pieces [][]byte }

func newPiecesReader(pieces [][]byte) *piecesReader { return &piecesReader{pieces} }

func (r *piecesReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) && len(r.pieces) > 0 {
		c := copy(b[n:], r.pieces[0])
		n += c
		if r.pieces[0] = r.pieces[0][c:]; len(r.pieces[0]) == 0 {
			r.pieces = r.pieces[1:]
		}
	}
	if n == 0 && len(r.pieces) == 0 {
		return 0, io.EOF
	}
	return n, nil
}
