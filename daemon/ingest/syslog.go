package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// StripSyslog removes the RFC 3164 framing nginx puts around an access-log
// line sent with `access_log syslog:server=…`:
//
//	<190>Nov 26 12:39:16 web1 nginx: 127.0.0.1 - - [26/Nov/2026:12:39:16 +0000] "GET / …
//
// (no hostname with nginx's `nohostname`; the tag may carry `[pid]`). It
// returns the message, which aliases b, and false when b is not framed so.
func StripSyslog(b []byte) ([]byte, bool) {
	if len(b) < 3 || b[0] != '<' {
		return nil, false
	}
	i, pri := 1, 0
	for i < len(b) && i <= 3 && b[i] >= '0' && b[i] <= '9' {
		pri = pri*10 + int(b[i]-'0')
		i++
	}
	if i == 1 || i >= len(b) || b[i] != '>' || pri > 191 {
		return nil, false
	}
	rest := b[i+1:]
	// TIMESTAMP is "Mmm dd hh:mm:ss" (day space-padded), then a space.
	if len(rest) < 16 || !isStamp(rest[:15]) || rest[15] != ' ' {
		return nil, false
	}
	rest = rest[16:]
	for hop := 0; hop < 2; hop++ { // [HOSTNAME] TAG:
		sp := bytes.IndexByte(rest, ' ')
		if sp <= 0 || sp > 255 {
			return nil, false
		}
		if rest[sp-1] == ':' {
			msg := rest[sp+1:]
			msg = bytes.TrimRight(msg, "\r\n")
			return msg, true
		}
		rest = rest[sp+1:]
	}
	return nil, false
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func isStamp(s []byte) bool {
	ok := false
	for _, m := range months {
		if string(s[:3]) == m {
			ok = true
			break
		}
	}
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	return ok && s[3] == ' ' && (s[4] == ' ' || digit(s[4])) && digit(s[5]) && s[6] == ' ' &&
		digit(s[7]) && digit(s[8]) && s[9] == ':' && digit(s[10]) && digit(s[11]) && s[12] == ':' &&
		digit(s[13]) && digit(s[14])
}

// SyslogListener receives nginx access-log lines over UDP.
type SyslogListener struct {
	conn     *net.UDPConn
	src      Source
	consumer Consumer
	logf     func(string, ...any)
	wg       sync.WaitGroup
	batches  chan *syslogBatch

	Datagrams, Lines, BadFrames atomic.Uint64
	lastBadLog                  atomic.Int64
}

type syslogBatch struct {
	arena []byte
	ends  []int
}

// ListenSyslog opens addr (host:port, UDP) and hands every framed line to
// consumer until ctx ends or Close. Datagrams are batched for up to 20 ms
// or 512 lines.
func ListenSyslog(ctx context.Context, addr string, src Source, consumer Consumer, logf func(string, ...any)) (*SyslogListener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("syslog listener %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for syslog on %q: %w", addr, err)
	}
	// Bursts arrive faster than one batch is applied; a large receive
	// buffer keeps the kernel from dropping them meanwhile.
	_ = conn.SetReadBuffer(8 << 20)
	if src.Name == "" {
		src.Name = "syslog:" + conn.LocalAddr().String()
	}
	l := &SyslogListener{conn: conn, src: src, consumer: consumer, logf: logf, batches: make(chan *syslogBatch, 64)}
	l.wg.Add(2)
	go l.read()
	go l.apply()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	return l, nil
}

// Addr is the bound address.
func (l *SyslogListener) Addr() net.Addr { return l.conn.LocalAddr() }

// Close stops listening and waits until every received line is applied.
func (l *SyslogListener) Close() {
	l.conn.Close()
	l.wg.Wait()
}

func (l *SyslogListener) read() {
	defer l.wg.Done()
	defer close(l.batches)
	buf := make([]byte, 64<<10)
	b := &syslogBatch{}
	var first time.Time
	send := func() {
		if len(b.ends) > 0 {
			l.batches <- b
			b = &syslogBatch{}
		}
	}
	for {
		if len(b.ends) > 0 {
			_ = l.conn.SetReadDeadline(first.Add(20 * time.Millisecond))
		} else {
			_ = l.conn.SetReadDeadline(time.Time{})
		}
		n, _, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				send()
				continue
			}
			send()
			return
		}
		l.Datagrams.Add(1)
		msg, ok := StripSyslog(buf[:n])
		if !ok {
			l.BadFrames.Add(1)
			if now := time.Now().UnixNano(); now-l.lastBadLog.Load() > int64(10*time.Second) {
				l.lastBadLog.Store(now)
				l.logf("ingest: %s: datagram without syslog framing (counted as bad, sampled at most every 10 s): %q", l.src.Name, clip(buf[:n], 200))
			}
			continue
		}
		// One datagram normally holds one line; split anyway.
		for _, line := range bytes.Split(msg, []byte{'\n'}) {
			if line = trimLine(line); len(line) > 0 && !utf8.Valid(line) {
				l.BadFrames.Add(1)
			} else if len(line) > 0 {
				if len(b.ends) == 0 {
					first = time.Now()
				}
				b.arena = append(b.arena, line...)
				b.ends = append(b.ends, len(b.arena))
			}
		}
		if len(b.ends) >= 512 {
			send()
		}
	}
}

func (l *SyslogListener) apply() {
	defer l.wg.Done()
	var lines [][]byte
	for b := range l.batches {
		lines = lines[:0]
		prev := 0
		for _, e := range b.ends {
			lines = append(lines, b.arena[prev:e])
			prev = e
		}
		l.Lines.Add(uint64(len(lines)))
		if err := l.consumer.Consume(&Batch{Source: &l.src, Lines: lines}); err != nil {
			l.logf("ingest: %s: %v", l.src.Name, err)
		}
	}
}

// Status is the listener's /status section.
func (l *SyslogListener) Status() map[string]any {
	return map[string]any{"listen": l.Addr().String(), "datagrams": l.Datagrams.Load(),
		"lines": l.Lines.Load(), "bad_frames": l.BadFrames.Load()}
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
