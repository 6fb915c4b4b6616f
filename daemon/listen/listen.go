// Package listen serves canopy's push sockets: TCP and UDP listeners that
// take JSON pushes, access-log lines, StatsD and Graphite plaintext, and
// merge them into the tree in batches.
//
// StatsD lands under the listener's prefix (default "statsd"): counters in
// counters,NAME (add, scaled by 1/rate), gauges in gauges,NAME (last; a
// +N/-N value changes the gauge), timers as etsy/statsd's fields per flush
// in timers,NAME,{count,count_ps,sum,mean,lower,upper,median,std,upper_90,…}
// (see timers.go) and cumulative buckets timers,NAME,le,BOUND (add), sets in sets,NAME (the
// count of distinct members in the current window). Dots in a name are tree
// levels; each tag adds a child (counters,NAME,env:prod) that merges the
// same value, so the parent holds the total, like the seed's venders.
// Graphite lands under its prefix (default "graphite") with the action of
// the listener (default last).
package listen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/canopy-dev/canopy/daemon/auth"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/metric"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/timespec"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Defaults for a listener.
const (
	DefaultReadBuffer = 16 << 20 // SO_RCVBUF asked for UDP sockets
	DefaultMaxConns   = 1000     // concurrent TCP connections
	DefaultSetWindow  = 10 * time.Second
	idleTimeout       = 5 * time.Minute
	udpBatch          = 32 // datagrams per recvmmsg
	udpLinger         = 5 * time.Millisecond
	maxDatagram       = 65536
	tcpPathCache      = 10_000 // smaller per-connection cache: many connections
)

// Options configures one listener.
type Options struct {
	Tree      Merger
	Config    config.Listener
	Auth      *auth.Checker // nil or no tokens: everyone may push
	Limits    push.Limits
	AccessLog push.AccessLogFunc // required for format accesslog
	// LinesIn and BadLines (labels source, format) count lines; nil: not
	// counted.
	LinesIn, BadLines *metric.CounterVec
	// IngestLines (label source: the proto) and Pushes (label input: the
	// proto; JSON lines) count with the daemon's other inputs; nil: not.
	IngestLines, Pushes *metric.CounterVec
	// SetWindow is StatsD's flush interval (default 10 s): how long set
	// members are remembered and timer samples gathered.
	SetWindow time.Duration
	// Backfill takes Graphite lines whose own timestamp is older than Live
	// (and within the listener's max_age) at that time: the trend store.
	// nil: such lines merge into the tree like current ones.
	Backfill Backfiller
	// Late takes an add listener's Graphite counts older than Live, one
	// past interval (ending at end) at a time: into the tree and to the
	// trend store at their own time (trend.Follower.Late). nil: they merge
	// at arrival.
	Late func(end time.Time) LateTarget
	// Live is how old a Graphite timestamp may be and still count as now
	// (merged into the tree; default 10 s, the trend tick).
	Live time.Duration
	Logf func(format string, args ...any)
}

// Listener is one running socket.
type Listener struct {
	opt    Options
	sh     *shared
	act    tree.Action // graphite: how values merge
	tcp    net.Listener
	udp    *net.UDPConn
	wg     sync.WaitGroup
	done   chan struct{}
	linesC *metrics.Counter
	badC   *metrics.Counter
	ingC   *metrics.Counter // canopy_ingest_lines_total{source=proto}
	pushC  *metrics.Counter // canopy_pushes_total{input=proto}: JSON pushes
	// Graphite timestamps: lines written at their own time, and lines
	// refused for a timestamp outside [now-max_age, now+1m].
	backfilled, tsRefused atomic.Uint64
	dec                   push.Decoder // format json

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	lastLog time.Time
	logged  int
	// RecvBuffer is the SO_RCVBUF the kernel granted (UDP).
	RecvBuffer int
}

// Start binds the socket and serves it until Close.
func Start(opt Options) (*Listener, error) {
	c := opt.Config
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	if opt.SetWindow <= 0 {
		opt.SetWindow = DefaultSetWindow
	}
	opt.Limits = opt.Limits.WithDefaults()
	l := &Listener{opt: opt, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	var prefix []string
	switch c.Format {
	case "statsd", "graphite":
		p := c.Prefix
		if p == "" {
			p = c.Format
		}
		var err error
		if prefix, err = key.Split(p); err != nil {
			return nil, fmt.Errorf("listener %s %s: prefix: %w", c.Proto, c.Listen, err)
		}
	case "json":
	case "accesslog":
		if opt.AccessLog == nil {
			return nil, fmt.Errorf("listener %s %s: format accesslog needs the pipes engine", c.Proto, c.Listen)
		}
	default:
		return nil, fmt.Errorf("listener %s %s: format %q is not served here", c.Proto, c.Listen, c.Format)
	}
	l.sh = newShared(opt.Tree, prefix, DefaultTimerBuckets)
	if c.MaxSeries > 0 {
		l.sh.maxSeries = c.MaxSeries
	}
	switch c.Format {
	case "statsd":
		if err := l.sh.setupStatsD(); err != nil {
			return nil, err
		}
		if len(c.Percentiles) > 0 {
			for _, p := range c.Percentiles {
				if !(p > 0 && p <= 100) {
					return nil, fmt.Errorf("listener %s %s: percentile %g: want a percent in (0, 100]", c.Proto, c.Listen, p)
				}
			}
			l.sh.percentiles = c.Percentiles
		}
	case "graphite":
		act := tree.ActionLast
		if c.Action != "" {
			a, err := tree.ParseAction(c.Action)
			if err != nil {
				return nil, fmt.Errorf("listener %s %s: %w", c.Proto, c.Listen, err)
			}
			act = a
		}
		l.act = act
		l.sh.window = timeWindow{maxAge: DefaultMaxAge, ahead: maxAhead, live: opt.Live, backfill: opt.Backfill, act: act, late: opt.Late}
		if l.sh.window.live <= 0 {
			l.sh.window.live = 10 * time.Second
		}
		if c.MaxAge != "" {
			d, err := timespec.ParseDuration(c.MaxAge)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("listener %s %s: max_age %q: want a positive duration like 24h or 7d", c.Proto, c.Listen, c.MaxAge)
			}
			l.sh.window.maxAge = d
		}
		if err := opt.Tree.SetAction(prefix, act); err != nil {
			return nil, fmt.Errorf("listener %s %s: %w", c.Proto, c.Listen, err)
		}
	}
	if opt.IngestLines != nil {
		l.ingC = opt.IngestLines.With(c.Proto)
	}
	if opt.Pushes != nil && c.Format == "json" {
		l.pushC = opt.Pushes.With(c.Proto)
	}
	if opt.LinesIn != nil {
		l.linesC = opt.LinesIn.With(c.Proto, c.Format)
	}
	if opt.BadLines != nil {
		l.badC = opt.BadLines.With(c.Proto, c.Format)
	}
	switch c.Proto {
	case "tcp":
		ln, err := net.Listen("tcp", c.Listen)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on tcp %s: %w", c.Listen, err)
		}
		l.tcp = ln
		l.wg.Add(1)
		go l.acceptLoop()
	case "udp":
		addr, err := net.ResolveUDPAddr("udp", c.Listen)
		if err != nil {
			return nil, fmt.Errorf("bad udp address %q: %w", c.Listen, err)
		}
		conn, err := net.ListenUDP("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("cannot listen on udp %s: %w", c.Listen, err)
		}
		l.udp = conn
		size := c.ReadBuffer
		if size <= 0 {
			size = DefaultReadBuffer
		}
		l.RecvBuffer = raiseReadBuffer(conn, size)
		readers := c.Readers
		if readers <= 0 {
			readers = 2
		}
		for range readers {
			l.wg.Add(1)
			go l.serveUDP()
		}
	default:
		return nil, fmt.Errorf("listener %s: proto %q: want tcp or udp", c.Listen, c.Proto)
	}
	if c.Format == "statsd" {
		l.wg.Add(1)
		go l.windows()
	}
	return l, nil
}

// Addr is the bound address (useful with port 0).
func (l *Listener) Addr() net.Addr {
	if l.tcp != nil {
		return l.tcp.Addr()
	}
	return l.udp.LocalAddr()
}

// Stats says what the listener did with Graphite timestamps (/status).
func (l *Listener) Stats() map[string]any {
	c := l.opt.Config
	return map[string]any{"proto": c.Proto, "listen": c.Listen, "format": c.Format,
		"backfilled_lines": l.backfilled.Load(), "timestamp_refused_lines": l.tsRefused.Load()}
}

// TimestampRefused counts Graphite lines refused for their timestamp.
func (l *Listener) TimestampRefused() uint64 { return l.tsRefused.Load() }

// Close stops the listener; what was read is merged before it returns.
func (l *Listener) Close() error {
	select {
	case <-l.done:
		return nil
	default:
	}
	close(l.done)
	var err error
	if l.tcp != nil {
		err = l.tcp.Close()
	}
	if l.udp != nil {
		err = l.udp.Close()
	}
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

func (l *Listener) windows() {
	defer l.wg.Done()
	tk := time.NewTicker(l.opt.SetWindow)
	defer tk.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-tk.C:
			l.sh.flushTimers(l.opt.SetWindow)
			l.sh.resetSets()
		}
	}
}

// raiseReadBuffer asks for size bytes of socket receive buffer, past
// net.core.rmem_max when the process may (SO_RCVBUFFORCE), and returns
// what the kernel granted. UDP bursts are lost in the kernel otherwise.
func raiseReadBuffer(c *net.UDPConn, size int) int {
	_ = c.SetReadBuffer(size)
	got := 0
	if raw, err := c.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
			got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		})
	}
	return got
}

// reader turns lines into merges for one goroutine (a UDP reader or a TCP
// connection).
type reader struct {
	l      *Listener
	b      *batch
	logs   []string
	lines  int
	bad    int
	source string
}

func (l *Listener) newReader(cacheCap int) *reader {
	b := newBatch(l.sh)
	b.cacheCap = cacheCap
	return &reader{l: l, b: b, source: l.opt.Config.Proto}
}

// line handles one line (or, for UDP json, one datagram).
func (r *reader) line(ln []byte) {
	ln = bytes.TrimRight(ln, "\r")
	if len(bytes.TrimSpace(ln)) == 0 {
		return
	}
	r.lines++
	if len(ln) > r.l.opt.Limits.MaxLineBytes {
		r.fail("line of %d bytes is longer than %d (limits.max_line_bytes)", len(ln), r.l.opt.Limits.MaxLineBytes)
		return
	}
	var err error
	switch r.l.opt.Config.Format {
	case "statsd":
		err = r.b.statsd(ln)
	case "graphite":
		err = r.b.graphite(ln, r.l.act)
	case "json":
		err = r.l.mergeJSON(ln)
	case "accesslog":
		r.logs = append(r.logs, string(ln))
		if len(r.logs) >= 1024 {
			r.flush()
		}
	}
	if err != nil {
		r.fail("%v", err)
	}
}

// mergeJSON checks one JSON push (a line, or a UDP datagram) against the
// limits and merges it.
func (l *Listener) mergeJSON(data []byte) error {
	if lerr := l.opt.Limits.CheckJSON(data); lerr != nil {
		return lerr
	}
	var err error
	if jm, ok := l.opt.Tree.(JSONMerger); ok {
		_, err = jm.MergeJSON(data)
	} else {
		_, err = l.dec.Merge(l.opt.Tree, data)
	}
	return err
}

// fail counts a bad line; the first few per minute are logged.
func (r *reader) fail(format string, args ...any) {
	r.bad++
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, ErrTimestamp) {
			r.l.tsRefused.Add(1)
		}
	}
	r.l.logBad(format, args...)
}

var errLogEvery = time.Minute

func (l *Listener) logBad(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.lastLog) < errLogEvery && l.logged >= 5 {
		return
	}
	if now.Sub(l.lastLog) >= errLogEvery {
		l.lastLog, l.logged = now, 0
	}
	l.logged++
	c := l.opt.Config
	l.opt.Logf("listener %s %s (%s): bad line: %s", c.Proto, c.Listen, c.Format, fmt.Sprintf(format, args...))
}

// flush merges what the reader holds.
func (r *reader) flush() {
	if n, err := r.b.flushTimed(); err != nil {
		r.l.logBad("cannot write %d timestamped lines to the trend store: %v", n, err)
	} else {
		r.l.backfilled.Add(uint64(n))
	}
	r.b.flush()
	r.bad += r.b.errs
	r.b.errs = 0
	if len(r.logs) > 0 {
		res, err := r.l.opt.AccessLog(r.logs)
		if err != nil {
			r.bad += len(r.logs)
			r.l.logBad("cannot run %d access-log lines through the pipes: %v", len(r.logs), err)
		} else {
			r.bad += res.Bad
		}
		clear(r.logs)
		r.logs = r.logs[:0]
	}
	if r.l.linesC != nil && r.lines > 0 {
		r.l.linesC.Add(r.lines)
	}
	if r.l.ingC != nil && r.lines > 0 {
		r.l.ingC.Add(r.lines)
	}
	if r.l.pushC != nil && r.lines > 0 {
		r.l.pushC.Add(r.lines)
	}
	if r.l.badC != nil && r.bad > 0 {
		r.l.badC.Add(r.bad)
	}
	r.lines, r.bad = 0, 0
}

// authLine reports whether ln is "auth TOKEN", and the token.
func authLine(ln []byte) (string, bool) {
	ln = bytes.TrimRight(ln, "\r")
	if len(ln) > 5 && strings.EqualFold(string(ln[:5]), "auth ") {
		return strings.TrimSpace(string(ln[5:])), true
	}
	return "", false
}

func (l *Listener) serveUDP() {
	defer l.wg.Done()
	r := l.newReader(maxPathCache)
	defer r.flush()
	pc := ipv4.NewPacketConn(l.udp)
	ms := make([]ipv4.Message, udpBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	// pending: read but not merged. The next read then gets a short
	// deadline, so a burst that ends exactly on a full recvmmsg is still
	// merged promptly.
	pending, deadline := false, false
	for {
		if pending {
			_ = l.udp.SetReadDeadline(time.Now().Add(udpLinger))
			deadline = true
		} else if deadline {
			_ = l.udp.SetReadDeadline(time.Time{})
			deadline = false
		}
		n, err := pc.ReadBatch(ms, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r.flush()
				pending = false
				continue
			}
			l.logBad("udp read: %v", err)
			continue
		}
		for i := 0; i < n; i++ {
			r.datagram(ms[i].Buffers[0][:ms[i].N], ms[i].Addr)
		}
		// Fewer datagrams than asked for: the socket is drained, so merge
		// now (low latency when idle, big batches under load).
		if n < len(ms) || r.b.full() {
			r.flush()
			pending = false
		} else {
			pending = true
		}
	}
}

// datagram handles one UDP datagram: lines, or one JSON push.
func (r *reader) datagram(d []byte, from net.Addr) {
	auth := r.l.opt.Auth
	if tok, ok := authLine(firstLine(d)); ok {
		d = d[min(len(d), len(firstLine(d))+1):]
		if err := auth.CheckPeer(from, tok); err != nil {
			r.deny(from, err.Msg)
			return
		}
	} else if err := auth.CheckPeer(from, ""); err != nil {
		r.deny(from, "a datagram from a non-loopback peer must start with a line \"auth TOKEN\"")
		return
	}
	if r.l.opt.Config.Format == "json" {
		r.line(d)
		return
	}
	for len(d) > 0 {
		i := bytes.IndexByte(d, '\n')
		if i < 0 {
			r.line(d)
			break
		}
		r.line(d[:i])
		d = d[i+1:]
	}
}

func (r *reader) deny(from net.Addr, why string) {
	r.bad++
	r.l.logBad("refused push from %v: %s", from, why)
}

func firstLine(d []byte) []byte {
	if i := bytes.IndexByte(d, '\n'); i >= 0 {
		return d[:i]
	}
	return d
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	max := l.opt.Config.MaxConns
	if max <= 0 {
		max = DefaultMaxConns
	}
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.logBad("tcp accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.mu.Lock()
		full := len(l.conns) >= max
		if !full {
			l.conns[c] = struct{}{}
		}
		l.mu.Unlock()
		if full {
			fmt.Fprintf(c, "error: too many connections (%d)\n", max)
			c.Close()
			continue
		}
		l.wg.Add(1)
		go l.serveConn(c)
	}
}

// serveConn reads one TCP connection line by line; a non-loopback peer must
// send "auth TOKEN" first when tokens are configured.
func (l *Listener) serveConn(c net.Conn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		c.Close()
	}()
	r := l.newReader(tcpPathCache)
	defer r.flush()
	br := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	first := true
	for {
		if br.Buffered() == 0 {
			// The next read may block: merge what we have first.
			r.flush()
			_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		}
		ln, size, err := readLine(br, &buf, l.opt.Limits.MaxLineBytes)
		if first && (len(ln) > 0 || size > 0) {
			first = false
			tok, isAuth := authLine(ln)
			if aerr := l.opt.Auth.CheckPeer(c.RemoteAddr(), tok); aerr != nil {
				msg := aerr.Msg
				if !isAuth {
					msg = "send \"auth TOKEN\" as the first line"
				}
				fmt.Fprintf(c, "error: %s\n", msg)
				r.deny(c.RemoteAddr(), msg)
				return
			}
			if isAuth {
				continue
			}
		}
		if size > l.opt.Limits.MaxLineBytes {
			r.lines++
			r.fail("line of %d bytes is longer than %d (limits.max_line_bytes)", size, l.opt.Limits.MaxLineBytes)
		} else if len(ln) > 0 {
			r.line(ln)
		}
		if r.b.full() {
			r.flush()
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line without its newline. A line longer than max is
// skipped to its end and only its size is returned, so one long line costs
// no more than max bytes of memory.
func readLine(br *bufio.Reader, buf *[]byte, max int) ([]byte, int, error) {
	*buf = (*buf)[:0]
	size := 0
	for {
		frag, err := br.ReadSlice('\n')
		size += len(frag)
		if size <= max+1 { // +1: the newline
			*buf = append(*buf, frag...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line := *buf
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
			size--
		}
		if size > max {
			line = nil
		}
		return line, size, err
	}
}
