package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/auth"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/timespec"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Long-poll settings.
const (
	defaultPullTimeout = 30 * time.Second
	maxPullTimeout     = 10 * time.Minute
	// pollEvery is how often the one notifier goroutine looks at the tree's
	// version while clients wait: an atomic load, so cheap, and it bounds
	// the extra delivery latency.
	pollEvery    = 2 * time.Millisecond
	sseKeepalive = 15 * time.Second
	// sseWriteTimeout ends a stream whose client stopped reading: its
	// socket buffers full, a write blocks that long. It is set at each
	// keep-alive, so a stream that is read never meets it.
	sseWriteTimeout = 2*sseKeepalive + 5*time.Second
	versionHeader   = "X-Canopy-Version"
)

// notifier wakes every waiting client once per tree version: a channel that
// is closed (a broadcast) and replaced whenever the version moves. One
// goroutine watches the version, and only while someone waits; clients
// never poll the tree themselves. The current channel is an atomic
// pointer: 10,000 clients waking together read it without queueing on a
// lock.
type notifier struct {
	t       *tree.Tree
	ch      atomic.Pointer[chan struct{}]
	closed  atomic.Bool
	mu      sync.Mutex // guards the fields below and replacing ch
	ver     uint64
	waiters int
	running bool
	done    chan struct{}
}

func newNotifier(t *tree.Tree) *notifier {
	n := &notifier{t: t, done: make(chan struct{})}
	ch := make(chan struct{})
	n.ch.Store(&ch)
	return n
}

// subscribe returns a channel closed at the next version change seen after
// the call. release must be called once the caller stops waiting.
func (n *notifier) subscribe() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.waiters++
	if !n.running && !n.closed.Load() {
		n.running = true
		n.ver = n.t.Version()
		go n.watch()
	}
	return *n.ch.Load()
}

func (n *notifier) release() {
	n.mu.Lock()
	n.waiters--
	n.mu.Unlock()
}

// next returns the current broadcast channel without registering (for a
// caller already subscribed). After close it is a closed channel: callers
// check isClosed when it fires.
func (n *notifier) next() <-chan struct{} { return *n.ch.Load() }

// isClosed reports whether the server is shutting down: waiters answer
// what they have and return.
func (n *notifier) isClosed() bool { return n.closed.Load() }

func (n *notifier) watch() {
	tk := time.NewTicker(pollEvery)
	defer tk.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-tk.C:
		}
		n.mu.Lock()
		n.broadcast()
		if n.waiters == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
	}
}

// broadcast wakes the waiters if the version moved; n.mu is held. The new
// channel is in place before the old one closes, so a woken waiter's next
// call gets it.
func (n *notifier) broadcast() {
	if n.closed.Load() {
		return
	}
	if v := n.t.Version(); v != n.ver {
		n.ver = v
		old := n.ch.Load()
		ch := make(chan struct{})
		n.ch.Store(&ch)
		close(*old)
	}
}

// kick broadcasts at once instead of at the next tick: the HTTP push
// handlers call it after they merge, so a push over HTTP reaches waiting
// clients without the tick's delay (and without the watcher goroutine
// having to be scheduled first on a busy server). Other writers (sockets,
// pipes) are seen by the tick.
func (n *notifier) kick() {
	n.mu.Lock()
	if n.running {
		n.broadcast()
	}
	n.mu.Unlock()
}

// close wakes every waiter for good: the current channel closes and stays
// the current one, so the waiters need no second channel to select on.
func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return
	}
	n.closed.Store(true)
	close(n.done)
	close(*n.ch.Load())
}

// changeCache shares one answer among the clients that wake together with
// the same key and since (after the first round, all clients of a key pass
// back the same version): the tree is read and the JSON and the event
// encoded once per (key, since, version), not once per client, and every
// client is sent the same bytes. The first client to ask computes; the
// others wait on its channel, so 10,000 waking clients neither repeat the
// work nor queue on a lock held during it.
type changeCache struct {
	snap atomic.Pointer[cacheSnap]
}

// cacheSnap holds the answers computed while the tree was at ver.
type cacheSnap struct {
	ver uint64
	m   sync.Map // changeKey → *cachedChanges
	n   atomic.Int32
}

type changeKey struct {
	pattern string
	since   uint64
}

type cachedChanges struct {
	done chan struct{} // closed when a and err are set
	a    answer
	err  error
}

// answer is one change list: the JSON list (a long-poll's body) inside
// the Server-Sent Event that carries it, one allocation shared by every
// client sent it.
type answer struct {
	body  []byte // JSON list
	event []byte // "id: <cur>\nevent: changes\ndata: <body>\n\n"; nil when n is 0
	n     int    // entries
	cur   uint64 // the version the list is current to
}

var emptyList = []byte("[]")

const maxCachedChanges = 1024

// changes returns the change list under p after since.
func (s *Server) changes(p *key.Pattern, since uint64) (answer, error) {
	t := s.opt.Tree
	v := t.Version()
	if since >= v {
		// Nothing newer: how every client comes back after a wake-up.
		return answer{body: emptyList, cur: v}, nil
	}
	snap := s.cache.snap.Load()
	if snap == nil || snap.ver != v {
		fresh := &cacheSnap{ver: v}
		if s.cache.snap.CompareAndSwap(snap, fresh) {
			snap = fresh
		} else if snap = s.cache.snap.Load(); snap.ver != v {
			return s.computeChanges(p, since)
		}
	}
	k := changeKey{p.String(), since}
	if c, ok := snap.m.Load(k); ok {
		cc := c.(*cachedChanges)
		<-cc.done
		return cc.a, cc.err
	}
	if snap.n.Load() >= maxCachedChanges {
		return s.computeChanges(p, since)
	}
	mine := &cachedChanges{done: make(chan struct{})}
	if c, loaded := snap.m.LoadOrStore(k, mine); loaded {
		cc := c.(*cachedChanges)
		<-cc.done
		return cc.a, cc.err
	}
	snap.n.Add(1)
	defer close(mine.done)
	mine.a, mine.err = s.computeChanges(p, since)
	return mine.a, mine.err
}

// computeChanges reads the tree. Any answer read after the caller asked is
// a correct one: it is current to its cur, which the client passes back.
func (s *Server) computeChanges(p *key.Pattern, since uint64) (answer, error) {
	entries, cur := s.opt.Tree.Since(p, since)
	if entries == nil {
		entries = []tree.Entry{}
	}
	body, err := json.Marshal(entries)
	if err != nil {
		return answer{}, err
	}
	a := answer{n: len(entries), cur: cur}
	if a.n == 0 {
		a.body = body
		return a, nil
	}
	ev := make([]byte, 0, len(body)+48)
	ev = append(ev, "id: "...)
	ev = strconv.AppendUint(ev, cur, 10)
	ev = append(ev, "\nevent: changes\ndata: "...)
	off := len(ev)
	ev = append(ev, body...)
	ev = append(ev, "\n\n"...)
	a.body = ev[off : off+len(body) : off+len(body)]
	a.event = ev
	return a, nil
}

// maxCachedPatterns bounds the parsed /pull keys kept: a few keys are
// asked by many clients; a client inventing keys gets them parsed anew.
const maxCachedPatterns = 1024

// pattern parses a /pull key, from the cache when the key was asked
// before (a Pattern is safe for concurrent use).
func (s *Server) pattern(k string) (*key.Pattern, error) {
	if p, ok := s.patterns.Load(k); ok {
		return p.(*key.Pattern), nil
	}
	p, err := key.Parse(k)
	if err == nil && s.npatterns.Add(1) <= maxCachedPatterns {
		s.patterns.Store(k, p)
	}
	return p, err
}

// pullArgs are the parsed /pull parameters.
type pullArgs struct {
	p          *key.Pattern
	since      uint64
	hasSince   bool
	timeout    time.Duration
	hasTimeout bool
}

// pullArgs parses a /pull request; keyParam is the path after /pull.
func (s *Server) pullArgs(r *http.Request, keyParam string) (pullArgs, error) {
	var a pullArgs
	raw := r.URL.RawQuery
	k := query(raw, "key")
	if k == "" {
		k = strings.TrimPrefix(keyParam, "/")
	}
	p, err := s.pattern(k)
	if err != nil {
		return a, err
	}
	a.p = p
	sv := query(raw, "since")
	if sv == "" {
		sv = r.Header.Get("Last-Event-ID")
	}
	if sv != "" {
		v, err := strconv.ParseUint(sv, 10, 64)
		if err != nil {
			return a, fmt.Errorf("since=%q is not a version number", sv)
		}
		a.since, a.hasSince = v, true
		// A version from the future means the daemon restarted: start over.
		if cur := s.opt.Tree.Version(); v > cur {
			a.since = 0
		}
	}
	a.timeout = defaultPullTimeout
	if tv := query(raw, "timeout"); tv != "" {
		d, err := parseTimeout(tv)
		if err != nil {
			return a, err
		}
		a.timeout, a.hasTimeout = min(d, maxPullTimeout), true
	}
	return a, nil
}

// query returns the first value of name in a raw URL query, as gin's
// c.Query does, without building the map of every parameter: /pull answers
// are small and many, and the map was a tenth of their CPU. Like
// url.ParseQuery it skips parts with a ';' or a bad escape.
func query(raw, name string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(kv, ";") {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != name {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			v = uv
		}
		return v
	}
	return ""
}

// parseTimeout accepts seconds ("30", "0.5") or a Go duration ("30s").
func parseTimeout(v string) (time.Duration, error) {
	// Whole seconds, what clients send, without the failed Go-duration
	// parse (and its error) that timespec tries first.
	if len(v) > 0 && len(v) <= 6 && strings.Trim(v, "0123456789") == "" {
		n, _ := strconv.Atoi(v)
		return time.Duration(n) * time.Second, nil
	}
	d, err := timespec.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("timeout=%q is not seconds or a duration like 30s", v)
	}
	return d, nil
}

// takeSlot reserves one of the MaxLongPolls waiting slots.
func (s *Server) takeSlot() bool {
	if n := s.polls.Add(1); n > int64(s.limits.MaxLongPolls) {
		s.polls.Add(-1)
		return false
	}
	s.metrics.pullClients.Inc()
	return true
}

func (s *Server) freeSlot() {
	s.polls.Add(-1)
	s.metrics.pullClients.Dec()
}

// join makes the caller a waiter: it takes a slot and subscribes to the
// next version, or fails with 429 and returns nil. A non-nil channel
// wants a leave.
func (s *Server) join(fail pullFail) <-chan struct{} {
	if !s.takeSlot() {
		fail(http.StatusTooManyRequests, s.tooManyWaiting())
		return nil
	}
	return s.notify.subscribe()
}

// leave undoes join.
func (s *Server) leave() {
	s.notify.release()
	s.freeSlot()
}

func (s *Server) tooManyWaiting() string {
	return fmt.Sprintf("too many clients waiting: %d (limits.max_long_polls); retry later", s.limits.MaxLongPolls)
}

// pullFail reports a /pull error; it is only called before anything was
// written, and /pull has no side effect before it.
type pullFail func(code int, msg string)

// pull is /pull on gin: the requests the plain handler (pullFast) handed
// over, which are the ones that fail, so gin's error pages and counting
// apply.
func (s *Server) pull(c *gin.Context) {
	s.servePull(c.Writer, c.Request, c.Param("key"), func(code int, msg string) {
		if code == http.StatusTooManyRequests {
			s.metrics.refused.With("max_long_polls").Inc()
			c.Header("Retry-After", "1")
		}
		s.fail(c, code, msg)
	})
}

// pullPath returns the key part of a /pull path as gin's /pull/*key
// route gives it, and which of the two /pull routes it is.
func pullPath(path string) (keyParam string, route int, ok bool) {
	rest, ok := strings.CutPrefix(path, "/pull")
	switch {
	case !ok:
		return "", 0, false
	case rest == "":
		return "", 0, true
	case rest[0] == '/':
		return rest, 1, true
	}
	return "", 0, false
}

var pullRoutes = [2]string{"/pull", "/pull/*key"}

// pullFast serves GET /pull as a plain net/http handler, ahead of gin: a
// long-poll is one request per delivery, 10,000 clients make 100,000 a
// second, and gin's context, middleware chain and per-request metric
// label were a tenth of each. It does what the middleware would (the read
// token, the request counter) and hands anything that fails to gin
// (returns false before writing), which answers it the usual way.
func (s *Server) pullFast(w http.ResponseWriter, r *http.Request, keyParam string, route int) bool {
	if s.auth.Enabled() && s.auth.Check(auth.Token(r), false) != nil {
		return false
	}
	failed := false
	s.servePull(w, r, keyParam, func(int, string) { failed = true })
	if failed {
		return false
	}
	c := s.pullCounts[route].Load()
	if c == nil {
		// Made on first use, as gin's middleware makes it.
		c = s.metrics.requests.With(pullRoutes[route], "200")
		s.pullCounts[route].Store(c)
	}
	c.Inc()
	return true
}

// servePull is the comet long-poll: the changes under key after since, at
// once when there are some, else as soon as there are (or [] at the
// timeout). The response's X-Canopy-Version is the since of the next
// call; a client that passes it back never misses a change.
func (s *Server) servePull(w http.ResponseWriter, r *http.Request, keyParam string, fail pullFail) {
	a, err := s.pullArgs(r, keyParam)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		s.stream(w, r, a, fail)
		return
	}
	t := s.opt.Tree
	if !a.hasSince {
		a.since = t.Version()
	}
	ans, err := s.changes(a.p, a.since)
	if err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	if ans.n == 0 && a.timeout > 0 {
		ch := s.join(fail)
		if ch == nil {
			return
		}
		defer s.leave()
		timer := time.NewTimer(a.timeout)
		defer timer.Stop()
		done := r.Context().Done()
	wait:
		for !s.notify.isClosed() {
			// ch was taken before this read, so a change after it closes ch.
			ans, err = s.changes(a.p, a.since)
			if err != nil || ans.n > 0 {
				break
			}
			select {
			case <-ch:
				ch = s.notify.next()
			case <-timer.C:
				break wait
			case <-done:
				return
			}
		}
		if err != nil {
			// Nothing is written yet; pullFast's retry through gin runs
			// after this returns, the slot freed.
			fail(http.StatusInternalServerError, err.Error())
			return
		}
	}
	s.metrics.pullSent.Inc()
	// The headers go straight into the map, canonical and backed by one
	// array: the same body goes to every waking client, and the answer's
	// cost is mostly net/http's (which adds Content-Length itself, outside
	// the map, to a body this small).
	vals := [...]string{"application/json; charset=utf-8", strconv.FormatUint(ans.cur, 10), "no-store"}
	h := w.Header()
	h["Content-Type"] = vals[0:1:1]
	h[versionHeader] = vals[1:2:2]
	h["Cache-Control"] = vals[2:3:3]
	w.WriteHeader(http.StatusOK)
	w.Write(ans.body)
}

// stream serves /pull as Server-Sent Events: one event per batch of
// changes, its id the version (browsers send it back as Last-Event-ID when
// they reconnect). Without since, the first event is the whole subtree.
// Every client woken by a version is written the same event bytes; the
// wait selects on three channels (version, one timer for keep-alives and
// ?timeout=, the request), the fewest a waiter needs.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, a pullArgs, fail pullFail) {
	ch := s.join(fail)
	if ch == nil {
		return
	}
	defer s.leave()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx in front must not buffer
	writeTimeout := s.sseWriteTimeout
	if writeTimeout == 0 {
		writeTimeout = sseWriteTimeout
	}
	// Not supported (a writer without deadlines) leaves the stream as it was.
	_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	// net/http resets no deadline between requests when the server has no
	// WriteTimeout: the next request on this connection must not inherit it.
	defer rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	// One timer: the next keep-alive comment, or the end when it comes
	// first.
	now := time.Now()
	end := now.Add(a.timeout)
	keep := min(sseKeepalive, writeTimeout/2)
	wait := func(now time.Time) time.Duration {
		if a.hasTimeout && end.Sub(now) < keep {
			return end.Sub(now)
		}
		return keep
	}
	tm := time.NewTimer(wait(now))
	defer tm.Stop()
	done := r.Context().Done()
	since := a.since
	for {
		ans, err := s.changes(a.p, since)
		if err != nil {
			return
		}
		if ans.n > 0 {
			if _, err := w.Write(ans.event); err != nil || rc.Flush() != nil {
				return
			}
			s.metrics.pullSent.Inc()
			since = ans.cur
		}
		select {
		case <-ch:
			if s.notify.isClosed() {
				return
			}
			ch = s.notify.next()
		case <-tm.C:
			now := time.Now()
			if a.hasTimeout && !now.Before(end) {
				return
			}
			_ = rc.SetWriteDeadline(now.Add(writeTimeout))
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			tm.Reset(wait(now))
		case <-done:
			return
		}
	}
}
