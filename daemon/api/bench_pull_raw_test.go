//go:build bench && linux

package api

// bench:pull's default clients: raw non-blocking sockets read through
// epoll, a few thousand connections per goroutine, each connection a small
// state machine over one buffer. They share the 2 cores with the server
// they measure, so they should cost little more than the kernel's read:
// no goroutine per connection to wake, no bufio, no net poller in between.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var crlf = []byte("\r\n")

// respHead is what the clients need of a response's head.
type respHead struct {
	length  int // Content-Length, -1 without
	chunked bool
	closing bool   // Connection: close
	ver     []byte // X-Canopy-Version
}

// parseHead parses the status line, which must say 200, and the headers
// at the start of b; n is 0 while b holds no whole head.
func parseHead(b []byte) (n int, h respHead, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, h, nil
	}
	status, rest, _ := bytes.Cut(b[:end], crlf)
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return 0, h, fmt.Errorf("status line %q", status)
	}
	h.length = -1
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, h, fmt.Errorf("header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			h.length, err = strconv.Atoi(string(value))
			if err != nil {
				return 0, h, fmt.Errorf("content-length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			h.closing = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte(versionHeader)):
			h.ver = value
		}
	}
	return end + 4, h, nil
}

// parseChunk parses one chunk of a chunked body at the start of b: its
// data, and n the bytes it takes (0 while b holds no whole chunk). Empty
// data is the last chunk (canopy sends no trailers).
func parseChunk(b []byte) (n int, data []byte, err error) {
	i := bytes.Index(b, crlf)
	if i < 0 {
		return 0, nil, nil
	}
	size, err := strconv.ParseUint(string(b[:i]), 16, 31)
	if err != nil {
		return 0, nil, fmt.Errorf("chunk size %q", b[:i])
	}
	end := i + 2 + int(size) + 2
	if len(b) < end {
		return 0, nil, nil
	}
	if !bytes.Equal(b[end-2:end], crlf) {
		return 0, nil, errors.New("chunk not followed by CRLF")
	}
	return end, b[i+2 : end-2], nil
}

// rawConn is one client: its socket, what it has read and not yet used,
// and in event-stream mode where it is in the stream.
type rawConn struct {
	fd      int // -1 while closed
	r       *pullResult
	since   []byte
	in      []byte // read, not yet parsed
	ev      []byte // event stream: decoded chunk data not yet cut into events
	inBody  bool   // event stream: the head is read, chunks follow
	closing bool   // the server closes the connection after this answer
	last    int64  // last read or request (unix ns), for the 30 s deadline
	redial  int64  // when closed after an error: when to dial again
}

// rawClients is a set of clients on one epoll instance, run by one
// goroutine.
type rawClients struct {
	sse    bool
	addr   string
	sa     syscall.SockaddrInet4
	pushes int
	sentAt []atomic.Int64
	ep     int
	conns  []rawConn
	req    []byte
}

// runRawClients starts one client per result on raw sockets, split over
// sets goroutines that run until stop (wg waits for them).
func runRawClients(wg *sync.WaitGroup, addr string, sets int, sse bool, since string, pushes int, sentAt []atomic.Int64, stop *atomic.Bool, results []pullResult) error {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return err
	}
	var sa syscall.SockaddrInet4
	copy(sa.Addr[:], ta.IP.To4())
	sa.Port = ta.Port
	per := (len(results) + sets - 1) / sets
	for lo := 0; lo < len(results); lo += per {
		rs := results[lo:min(lo+per, len(results))]
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("cannot make an epoll instance: %w", err)
		}
		s := &rawClients{sse: sse, addr: addr, sa: sa, pushes: pushes, sentAt: sentAt, ep: ep, conns: make([]rawConn, len(rs))}
		for i := range s.conns {
			s.conns[i] = rawConn{fd: -1, r: &rs[i], since: []byte(since), in: make([]byte, 0, 4096)}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(stop)
		}()
	}
	return nil
}

func (s *rawClients) run(stop *atomic.Bool) {
	defer syscall.Close(s.ep)
	now := time.Now().UnixNano()
	for i := range s.conns {
		s.open(i, now)
	}
	events := make([]syscall.EpollEvent, 512)
	lastCheck := now
	for !stop.Load() {
		n, err := syscall.EpollWait(s.ep, events, 50)
		if err != nil && err != syscall.EINTR {
			panic(fmt.Sprintf("epoll_wait: %v", err))
		}
		for _, e := range events[:max(n, 0)] {
			s.readable(int(e.Fd))
		}
		if now := time.Now().UnixNano(); now-lastCheck > int64(10*time.Millisecond) {
			lastCheck = now
			for i := range s.conns {
				c := &s.conns[i]
				switch {
				case c.fd < 0 && now >= c.redial:
					s.open(i, now)
				case c.fd >= 0 && now-c.last > int64(30*time.Second):
					s.fail(i, now)
				}
			}
		}
	}
	for i := range s.conns {
		if c := &s.conns[i]; c.fd >= 0 {
			syscall.Close(c.fd)
		}
	}
}

// open dials client i and sends its first request; a failure is counted
// and retried.
func (s *rawClients) open(i int, now int64) {
	c := &s.conns[i]
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		s.fail(i, now)
		return
	}
	c.fd = fd
	// A blocking connect: loopback answers at once.
	if syscall.Connect(fd, &s.sa) != nil ||
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) != nil ||
		syscall.SetNonblock(fd, true) != nil ||
		syscall.EpollCtl(s.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}) != nil {
		s.fail(i, now)
		return
	}
	c.in, c.ev, c.inBody, c.closing = c.in[:0], c.ev[:0], false, false
	s.request(i, now)
}

// fail closes client i after an error; it dials again 10 ms later.
func (s *rawClients) fail(i int, now int64) {
	c := &s.conns[i]
	c.r.errors++
	if c.fd >= 0 {
		syscall.Close(c.fd)
		c.fd = -1
	}
	c.redial = now + int64(10*time.Millisecond)
}

// request writes client i's next GET, by hand, in one write.
func (s *rawClients) request(i int, now int64) {
	c := &s.conns[i]
	if s.sse {
		s.req = append(s.req[:0], "GET /pull/bench?timeout=5&since="...)
	} else {
		s.req = append(s.req[:0], "GET /pull/?key=bench&timeout=5&since="...)
	}
	s.req = append(s.req, c.since...)
	s.req = append(s.req, " HTTP/1.1\r\nHost: "...)
	s.req = append(s.req, s.addr...)
	if s.sse {
		s.req = append(s.req, "\r\nAccept: text/event-stream"...)
	}
	s.req = append(s.req, "\r\n\r\n"...)
	// The previous answer has been read, so the send buffer is empty and
	// a hundred bytes go in whole.
	if n, err := syscall.Write(c.fd, s.req); err != nil || n != len(s.req) {
		s.fail(i, now)
		return
	}
	c.last = now
}

// readable reads what client i's socket holds and acts on every whole
// answer or event in it.
func (s *rawClients) readable(i int) {
	c := &s.conns[i]
	if c.fd < 0 {
		return
	}
	if len(c.in) == cap(c.in) {
		c.in = append(c.in, 0)[:len(c.in)]
	}
	n, err := syscall.Read(c.fd, c.in[len(c.in):cap(c.in)])
	now := time.Now().UnixNano()
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err != nil || n == 0 {
		// The server closes only after an answer it said it would.
		s.fail(i, now)
		return
	}
	c.in = c.in[:len(c.in)+n]
	c.last = now
	if s.sse {
		err = s.stream(i, now)
	} else {
		err = s.answer(i, now)
	}
	if err != nil {
		s.fail(i, now)
	}
}

// answer handles a whole long-poll answer in client i's input, if there
// is one, and asks again.
func (s *rawClients) answer(i int, now int64) error {
	c := &s.conns[i]
	n, h, err := parseHead(c.in)
	if err != nil || n == 0 {
		return err
	}
	var body []byte
	switch {
	case h.chunked:
		// Only answers over net/http's 2 KB buffer are chunked.
		for k := n; ; {
			m, data, err := parseChunk(c.in[k:])
			if err != nil || m == 0 {
				return err
			}
			body, k = append(body, data...), k+m
			if len(data) == 0 {
				n = k
				break
			}
		}
	case h.length < 0:
		return errors.New("answer without a length")
	case len(c.in) < n+h.length:
		return nil
	default:
		body, n = c.in[n:n+h.length], n+h.length
	}
	c.r.polls++
	if !json.Valid(body) || len(h.ver) == 0 {
		c.r.errors++
	} else {
		c.r.scan(body, s.pushes, now, s.sentAt)
		c.since = append(c.since[:0], h.ver...)
	}
	if len(c.in) > n {
		return errors.New("bytes after the answer")
	}
	c.in = c.in[:0]
	if h.closing {
		syscall.Close(c.fd)
		c.fd = -1
		s.open(i, now)
		return nil
	}
	s.request(i, now)
	return nil
}

// stream handles client i's event-stream input: the head, then each whole
// chunk, the events cut from the decoded bytes whatever the chunking;
// at the last chunk (?timeout=5) the client asks again from its last id.
func (s *rawClients) stream(i int, now int64) error {
	c := &s.conns[i]
	k := 0
	defer func() { c.in = c.in[:copy(c.in, c.in[k:])] }()
	if !c.inBody {
		n, h, err := parseHead(c.in)
		if err != nil || n == 0 {
			return err
		}
		if !h.chunked {
			return errors.New("event stream not chunked")
		}
		k, c.inBody, c.closing = n, true, h.closing
	}
	for {
		m, data, err := parseChunk(c.in[k:])
		if err != nil || m == 0 {
			return err
		}
		k += m
		if len(data) == 0 {
			if k != len(c.in) {
				return errors.New("bytes after the stream")
			}
			c.inBody = false
			if len(c.ev) > 0 {
				return errors.New("stream ends inside an event")
			}
			if c.closing {
				syscall.Close(c.fd)
				c.fd = -1
				k = 0
				s.open(i, now)
				return nil
			}
			s.request(i, now)
			return nil
		}
		c.ev = append(c.ev, data...)
		for {
			j := bytes.Index(c.ev, []byte("\n\n"))
			if j < 0 {
				break
			}
			if !c.r.event(c.ev[:j], s.pushes, now, s.sentAt, &c.since) {
				c.r.errors++
			}
			c.ev = c.ev[:copy(c.ev, c.ev[j+2:])]
		}
	}
}

// rawLoopbackFloor is loopbackFloor without Go's net package: n loopback
// TCP connections made with raw syscalls, and for each of rounds rounds
// one goroutine writes size bytes with write(2) to every server end, then
// reads them all back at the client ends through epoll_wait and read(2).
// What is left is the kernel's cost of a delivery, which no server or
// client code can go under: CPU µs per write+read.
func rawLoopbackFloor(n, size, rounds int) (float64, error) {
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(ln)
	if err := syscall.Bind(ln, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return 0, err
	}
	if err := syscall.Listen(ln, n); err != nil {
		return 0, err
	}
	la, err := syscall.Getsockname(ln)
	if err != nil {
		return 0, err
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(ep)
	srv := make([]int, 0, n)
	for i := 0; i < n; i++ {
		c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		defer syscall.Close(c)
		if err := syscall.Connect(c, la); err != nil {
			return 0, err
		}
		s, _, err := syscall.Accept(ln)
		if err != nil {
			return 0, err
		}
		defer syscall.Close(s)
		for _, fd := range []int{c, s} {
			if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
				return 0, err
			}
		}
		if err := syscall.SetNonblock(c, true); err != nil {
			return 0, err
		}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, c, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c)}); err != nil {
			return 0, err
		}
		srv = append(srv, s)
	}
	msg := make([]byte, size)
	buf := make([]byte, 4096)
	events := make([]syscall.EpollEvent, 512)
	c0 := cpuSeconds()
	for r := 0; r < rounds; r++ {
		for _, s := range srv {
			if _, err := syscall.Write(s, msg); err != nil {
				return 0, err
			}
		}
		for got := 0; got < n*size; {
			k, err := syscall.EpollWait(ep, events, 1000)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return 0, err
			}
			for _, e := range events[:k] {
				m, err := syscall.Read(int(e.Fd), buf)
				if err != nil && err != syscall.EAGAIN {
					return 0, err
				}
				got += max(m, 0)
			}
		}
	}
	return (cpuSeconds() - c0) / float64(n*rounds) * 1e6, nil
}
