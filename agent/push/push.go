// Package push delivers the agent's batches to canopyd (or a relay) in
// order. Every batch is written to an on-disk buffer first and removed once
// the server took it, so an outage or a restart of either side loses
// nothing while the buffer has room; past its size the oldest batches go.
package push

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Batch is one push: seed-shaped JSON objects and raw access-log lines.
type Batch struct {
	// JSON is a list of push objects, e.g.
	// [{"cpu": {"web1": {"user": 3.2}}, "defaultaction": "average"}].
	JSON []json.RawMessage `json:"json,omitempty"`
	// AccessLog lines go to the daemon's pipes (form field accesslog).
	AccessLog []string `json:"accesslog,omitempty"`
}

// Options configures a Client.
type Options struct {
	// Server is http(s)://HOST:PORT or tcp://HOST:PORT.
	Server string
	Token  string
	// Dir is the buffer folder (created if missing).
	Dir string
	// MaxBytes bounds the buffer (default 64 MiB).
	MaxBytes int64
	// Timeout caps one delivery (default 10 s).
	Timeout time.Duration
	// Retry is the first wait after a failed delivery, doubled up to
	// MaxRetry (defaults 500 ms and 5 s).
	Retry, MaxRetry time.Duration
	Logf            func(format string, args ...any)
}

// Client queues batches on disk and delivers them in order.
type Client struct {
	opt    Options
	u      *url.URL
	hc     *http.Client
	mu     sync.Mutex
	seq    uint64
	queued []entry // oldest first
	bytes  int64
	wake   chan struct{}

	sent, dropped, failures atomic.Uint64
}

type entry struct {
	seq  uint64
	size int64
}

const suffix = ".batch"

// New opens the buffer in opt.Dir, picking up batches a previous run left.
func New(opt Options) (*Client, error) {
	u, err := url.Parse(opt.Server)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tcp") {
		return nil, fmt.Errorf("server %q: want http(s)://HOST:PORT or tcp://HOST:PORT", opt.Server)
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 64 << 20
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Retry <= 0 {
		opt.Retry = 500 * time.Millisecond
	}
	if opt.MaxRetry < opt.Retry {
		opt.MaxRetry = max(5*time.Second, opt.Retry)
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create push buffer %q: %w", opt.Dir, err)
	}
	c := &Client{opt: opt, u: u, wake: make(chan struct{}, 1),
		hc: &http.Client{Timeout: opt.Timeout}}
	ents, err := os.ReadDir(opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read push buffer %q: %w", opt.Dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(opt.Dir, name)) // a write cut short
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, suffix), 10, 64)
		if !strings.HasSuffix(name, suffix) || err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		c.queued = append(c.queued, entry{n, fi.Size()})
		c.bytes += fi.Size()
		c.seq = max(c.seq, n)
	}
	sort.Slice(c.queued, func(i, j int) bool { return c.queued[i].seq < c.queued[j].seq })
	if len(c.queued) > 0 {
		opt.Logf("push buffer holds %d batches from an earlier run; sending them first", len(c.queued))
	}
	return c, nil
}

func (c *Client) path(seq uint64) string {
	return filepath.Join(c.opt.Dir, fmt.Sprintf("%020d%s", seq, suffix))
}

// Enqueue writes b to the buffer; Run delivers it.
func (c *Client) Enqueue(b Batch) error {
	if len(b.JSON) == 0 && len(b.AccessLog) == 0 {
		return nil
	}
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("cannot encode batch: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	p := c.path(c.seq)
	// Write then rename, so a crash never leaves half a batch to send.
	if err := os.WriteFile(p+".tmp", data, 0o644); err != nil {
		return fmt.Errorf("cannot buffer batch: %w", err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("cannot buffer batch: %w", err)
	}
	c.queued = append(c.queued, entry{c.seq, int64(len(data))})
	c.bytes += int64(len(data))
	for c.bytes > c.opt.MaxBytes && len(c.queued) > 1 {
		old := c.queued[0]
		c.queued = c.queued[1:]
		c.bytes -= old.size
		os.Remove(c.path(old.seq))
		c.dropped.Add(1)
		c.opt.Logf("push buffer is over %d bytes: dropped the oldest batch", c.opt.MaxBytes)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// Pending returns the number of batches not yet delivered.
func (c *Client) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queued)
}

// Stats are delivery counters.
type Stats struct {
	Sent, Dropped, Failures uint64
	Pending                 int
}

// Stats returns the delivery counters.
func (c *Client) Stats() Stats {
	return Stats{Sent: c.sent.Load(), Dropped: c.dropped.Load(), Failures: c.failures.Load(), Pending: c.Pending()}
}

// Run delivers batches until ctx ends.
func (c *Client) Run(ctx context.Context) {
	wait := time.Duration(0)
	down := false
	for {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		err := c.Drain(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.failures.Add(1)
			if !down {
				c.opt.Logf("cannot push to %s (buffering, %d batches waiting): %v", c.opt.Server, c.Pending(), err)
			}
			down = true
			wait = min(max(2*wait, c.opt.Retry), c.opt.MaxRetry)
			continue
		}
		if down {
			c.opt.Logf("pushing to %s again", c.opt.Server)
			down = false
		}
		wait = 0
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
	}
}

// Drain delivers every buffered batch, oldest first, and stops at the
// first failure.
func (c *Client) Drain(ctx context.Context) error {
	for {
		c.mu.Lock()
		if len(c.queued) == 0 {
			c.mu.Unlock()
			return nil
		}
		e := c.queued[0]
		c.mu.Unlock()
		data, err := os.ReadFile(c.path(e.seq))
		if err == nil {
			err = c.send(ctx, data)
		} else if errors.Is(err, os.ErrNotExist) {
			err = nil // dropped meanwhile
		}
		var rej *rejected
		if errors.As(err, &rej) {
			// The server will never take it; keeping it would stop the queue.
			c.opt.Logf("server rejected a batch, dropping it: %v", err)
			c.dropped.Add(1)
			err = nil
		} else if err == nil {
			c.sent.Add(1)
		}
		if err != nil {
			return err
		}
		c.mu.Lock()
		if len(c.queued) > 0 && c.queued[0].seq == e.seq {
			c.queued = c.queued[1:]
			c.bytes -= e.size
			os.Remove(c.path(e.seq))
		}
		c.mu.Unlock()
	}
}

type rejected struct{ msg string }

func (r *rejected) Error() string { return r.msg }

func (c *Client) send(ctx context.Context, data []byte) error {
	var b Batch
	if err := json.Unmarshal(data, &b); err != nil {
		return &rejected{"unreadable buffered batch: " + err.Error()}
	}
	if c.u.Scheme == "tcp" {
		return c.sendTCP(ctx, &b)
	}
	u := *c.u
	u.Path = strings.TrimSuffix(u.Path, "/") + "/push"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(formBody(&b)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "canopy-agent")
	if c.opt.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opt.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge:
		return &rejected{fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))}
	default:
		// 401/403 (a token to fix), 429, 5xx: keep the batch and retry.
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
}

// formBody is url.Values{"json": the list, "accesslog": the lines}.Encode()
// built in one buffer: through url.Values a round's batch was copied four
// times (BenchmarkPushPath). The JSON objects are compact and valid:
// Enqueue's json.Marshal checked and compacted them.
func formBody(b *Batch) []byte {
	n := 16
	for _, j := range b.JSON {
		n += len(j) + 1
	}
	for _, l := range b.AccessLog {
		n += len(l) + 1
	}
	out := make([]byte, 0, n+n/2)
	if len(b.AccessLog) > 0 {
		out = append(out, "accesslog="...)
		for _, l := range b.AccessLog {
			out = appendQueryEscape(out, l)
			out = append(out, "%0A"...)
		}
	}
	if len(b.JSON) > 0 {
		if len(out) > 0 {
			out = append(out, '&')
		}
		out = append(out, "json=%5B"...)
		for i, j := range b.JSON {
			if i > 0 {
				out = append(out, "%2C"...)
			}
			out = appendQueryEscape(out, string(j))
		}
		out = append(out, "%5D"...)
	}
	return out
}

// appendQueryEscape appends url.QueryEscape(s).
func appendQueryEscape(out []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			out = append(out, c)
		case c == ' ':
			out = append(out, '+')
		default:
			out = append(out, '%', hex[c>>4], hex[c&15])
		}
	}
	return out
}

// sendTCP writes each JSON object as one line to a canopyd json listener.
// Access-log lines need HTTP (or a listener of format accesslog) and are
// dropped here with a log line.
func (c *Client) sendTCP(ctx context.Context, b *Batch) error {
	d := net.Dialer{Timeout: c.opt.Timeout}
	conn, err := d.DialContext(ctx, "tcp", c.u.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.opt.Timeout))
	w := bufio.NewWriter(conn)
	if c.opt.Token != "" {
		// canopyd's listeners take a token as the first line.
		fmt.Fprintf(w, "auth %s\n", c.opt.Token)
	}
	for _, j := range b.JSON {
		var buf bytes.Buffer
		if err := json.Compact(&buf, j); err != nil {
			return &rejected{"bad JSON in batch"}
		}
		w.Write(buf.Bytes())
		w.WriteByte('\n')
	}
	if len(b.AccessLog) > 0 {
		c.opt.Logf("tcp push: %d access-log lines dropped (push them over http)", len(b.AccessLog))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// Half-close and wait for the server to close, so the lines were read.
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.CloseWrite()
		io.Copy(io.Discard, conn)
	}
	return nil
}
