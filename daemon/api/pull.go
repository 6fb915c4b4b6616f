package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

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
	pollEvery     = 2 * time.Millisecond
	sseKeepalive  = 15 * time.Second
	versionHeader = "X-Canopy-Version"
)

// notifier wakes every waiting client once per tree version: a channel that
// is closed (a broadcast) and replaced whenever the version moves. One
// goroutine watches the version, and only while someone waits; clients
// never poll the tree themselves.
type notifier struct {
	t       *tree.Tree
	mu      sync.Mutex
	ch      chan struct{}
	ver     uint64
	waiters int
	running bool
	done    chan struct{}
}

func newNotifier(t *tree.Tree) *notifier {
	return &notifier{t: t, ch: make(chan struct{}), done: make(chan struct{})}
}

// subscribe returns a channel closed at the next version change seen after
// the call. release must be called once the caller stops waiting.
func (n *notifier) subscribe() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.waiters++
	if !n.running {
		n.running = true
		n.ver = n.t.Version()
		go n.watch()
	}
	return n.ch
}

func (n *notifier) release() {
	n.mu.Lock()
	n.waiters--
	n.mu.Unlock()
}

// next returns the current broadcast channel without registering (for a
// caller already subscribed).
func (n *notifier) next() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

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

// broadcast wakes the waiters if the version moved; n.mu is held.
func (n *notifier) broadcast() {
	if v := n.t.Version(); v != n.ver {
		n.ver = v
		close(n.ch)
		n.ch = make(chan struct{})
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

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case <-n.done:
	default:
		close(n.done)
	}
}

// changeCache shares one change list among the clients that wake together
// with the same key and since (after the first round, all clients of a key
// pass back the same version): the tree is read and the JSON encoded once
// per (key, since, version), not once per client. The first client to ask
// computes; the others wait on its channel, so 2,000 waking clients neither
// repeat the work nor queue on a lock held during it.
type changeCache struct {
	snap atomic.Pointer[cacheSnap]
}

// cacheSnap holds the lists computed while the tree was at ver.
type cacheSnap struct {
	ver uint64
	m   sync.Map // key → *cachedChanges
	n   atomic.Int32
}

type cachedChanges struct {
	done chan struct{} // closed when the fields below are set
	body []byte        // JSON list
	n    int           // entries
	cur  uint64
	err  error
}

const maxCachedChanges = 1024

// changes returns the JSON change list under p after since, the number of
// entries and the version it is current to.
func (s *Server) changes(p *key.Pattern, since uint64) ([]byte, int, uint64, error) {
	t := s.opt.Tree
	v := t.Version()
	if since >= v {
		// Nothing newer: how every client comes back after a wake-up.
		return []byte("[]"), 0, v, nil
	}
	snap := s.cache.snap.Load()
	if snap == nil || snap.ver != v {
		fresh := &cacheSnap{ver: v}
		if s.cache.snap.CompareAndSwap(snap, fresh) {
			snap = fresh
		} else if snap = s.cache.snap.Load(); snap.ver != v {
			return s.computeChanges(p, since, &cachedChanges{})
		}
	}
	key := p.String() + "\x00" + strconv.FormatUint(since, 10)
	if c, ok := snap.m.Load(key); ok {
		cc := c.(*cachedChanges)
		<-cc.done
		return cc.body, cc.n, cc.cur, cc.err
	}
	if snap.n.Load() >= maxCachedChanges {
		return s.computeChanges(p, since, &cachedChanges{})
	}
	mine := &cachedChanges{done: make(chan struct{})}
	if c, loaded := snap.m.LoadOrStore(key, mine); loaded {
		cc := c.(*cachedChanges)
		<-cc.done
		return cc.body, cc.n, cc.cur, cc.err
	}
	snap.n.Add(1)
	defer close(mine.done)
	return s.computeChanges(p, since, mine)
}

// computeChanges reads the tree into c. Any answer read after the caller
// asked is a correct one: it is current to c.cur, which the client passes
// back.
func (s *Server) computeChanges(p *key.Pattern, since uint64, c *cachedChanges) ([]byte, int, uint64, error) {
	entries, cur := s.opt.Tree.Since(p, since)
	if entries == nil {
		entries = []tree.Entry{}
	}
	c.body, c.err = json.Marshal(entries)
	c.n, c.cur = len(entries), cur
	return c.body, c.n, c.cur, c.err
}

// pullArgs are the parsed /pull parameters.
type pullArgs struct {
	p        *key.Pattern
	since    uint64
	hasSince bool
	timeout  time.Duration
}

func (s *Server) pullArgs(c *gin.Context) (pullArgs, error) {
	var a pullArgs
	raw := c.Request.URL.RawQuery
	k := query(raw, "key")
	if k == "" {
		k = strings.TrimPrefix(c.Param("key"), "/")
	}
	p, err := key.Parse(k)
	if err != nil {
		return a, err
	}
	a.p = p
	sv := query(raw, "since")
	if sv == "" {
		sv = c.GetHeader("Last-Event-ID")
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
		a.timeout = min(d, maxPullTimeout)
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
	d, err := timespec.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("timeout=%q is not seconds or a duration like 30s", v)
	}
	return d, nil
}

// takeSlot reserves one of the MaxLongPolls waiting slots.
func (s *Server) takeSlot(c *gin.Context) bool {
	if n := s.polls.Add(1); n > int64(s.limits.MaxLongPolls) {
		s.polls.Add(-1)
		s.metrics.refused.With("max_long_polls").Inc()
		c.Header("Retry-After", "1")
		s.fail(c, http.StatusTooManyRequests,
			fmt.Sprintf("too many clients waiting: %d (limits.max_long_polls); retry later", s.limits.MaxLongPolls))
		return false
	}
	s.metrics.pullClients.Inc()
	return true
}

func (s *Server) freeSlot() {
	s.polls.Add(-1)
	s.metrics.pullClients.Dec()
}

// pull is the comet long-poll: the changes under key after since, at once
// when there are some, else as soon as there are (or [] at the timeout).
// The response's X-Canopy-Version is the since of the next call; a client
// that passes it back never misses a change.
func (s *Server) pull(c *gin.Context) {
	a, err := s.pullArgs(c)
	if err != nil {
		s.fail(c, http.StatusBadRequest, err.Error())
		return
	}
	if strings.Contains(c.GetHeader("Accept"), "text/event-stream") {
		s.stream(c, a)
		return
	}
	t := s.opt.Tree
	if !a.hasSince {
		a.since = t.Version()
	}
	body, n, cur, err := s.changes(a.p, a.since)
	if err != nil {
		s.fail(c, http.StatusInternalServerError, err.Error())
		return
	}
	if n == 0 && a.timeout > 0 {
		if !s.takeSlot(c) {
			return
		}
		defer s.freeSlot()
		ch := s.notify.subscribe()
		defer s.notify.release()
		timer := time.NewTimer(a.timeout)
		defer timer.Stop()
	wait:
		for {
			// ch was taken before this read, so a change after it closes ch.
			body, n, cur, err = s.changes(a.p, a.since)
			if err != nil || n > 0 {
				break
			}
			select {
			case <-ch:
				ch = s.notify.next()
			case <-timer.C:
				break wait
			case <-c.Request.Context().Done():
				return
			case <-s.notify.done:
				break wait
			}
		}
	}
	if err != nil {
		s.fail(c, http.StatusInternalServerError, err.Error())
		return
	}
	s.metrics.pullSent.Inc()
	// The headers go straight into the map, canonical and backed by one
	// array: the same bytes go to every waking client, and the answer's
	// cost is mostly net/http's (which adds Content-Length itself, outside
	// the map, to a body this small).
	vals := [...]string{"application/json; charset=utf-8", strconv.FormatUint(cur, 10), "no-store"}
	h := c.Writer.Header()
	h["Content-Type"] = vals[0:1:1]
	h[versionHeader] = vals[1:2:2]
	h["Cache-Control"] = vals[2:3:3]
	c.Status(http.StatusOK)
	c.Writer.Write(body)
}

// stream serves /pull as Server-Sent Events: one event per batch of
// changes, its id the version (browsers send it back as Last-Event-ID when
// they reconnect). Without since, the first event is the whole subtree.
func (s *Server) stream(c *gin.Context, a pullArgs) {
	if !s.takeSlot(c) {
		return
	}
	defer s.freeSlot()
	ch := s.notify.subscribe()
	defer s.notify.release()
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx in front must not buffer
	w.WriteHeader(http.StatusOK)
	w.Flush()
	var end <-chan time.Time
	if c.Query("timeout") != "" {
		tm := time.NewTimer(a.timeout)
		defer tm.Stop()
		end = tm.C
	}
	keep := time.NewTicker(sseKeepalive)
	defer keep.Stop()
	since := a.since
	for {
		data, n, cur, err := s.changes(a.p, since)
		if err != nil {
			return
		}
		if n > 0 {
			if _, err := fmt.Fprintf(w, "id: %d\nevent: changes\ndata: %s\n\n", cur, data); err != nil {
				return
			}
			w.Flush()
			s.metrics.pullSent.Inc()
			since = cur
		}
		select {
		case <-ch:
			ch = s.notify.next()
		case <-keep.C:
			if _, err := w.WriteString(": keepalive\n\n"); err != nil {
				return
			}
			w.Flush()
		case <-end:
			return
		case <-c.Request.Context().Done():
			return
		case <-s.notify.done:
			return
		}
	}
}
