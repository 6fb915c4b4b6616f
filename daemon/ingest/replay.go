package ingest

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// ReplayOptions configures Replay.
type ReplayOptions struct {
	Source   Source
	Consumer Consumer
	// TimeOf returns a line's own timestamp (false when the line has none
	// or does not parse). With Tick it splits the replay at interval
	// boundaries of the log's clock.
	TimeOf func(line []byte) (time.Time, bool)
	// Tick, when set, is called each time the log's clock passes a
	// multiple of Interval, after every line before that boundary has been
	// consumed and before any line after it: the trend store back-fills
	// the interval's point at the boundary's time. It is called once more
	// after the last line.
	Tick     func(boundary time.Time) error
	Interval time.Duration
	// BatchLines per Consume (default 16384: replay is throughput-bound,
	// and the pipes split a call evenly over their workers, so on 2 CPUs
	// each pipe call gets pipes.DefaultBatchSize lines).
	BatchLines int
	// Buffers is how many batches may be between read and consumed: one
	// being read (and gunzipped), the others consumed at once (default one
	// more than the number of CPUs, at least 3; 1 reads and consumes in
	// turn).
	Buffers int
	// MaxLineBytes: longer lines are skipped and counted (default 64 KiB).
	MaxLineBytes int
	// Progress receives progress reports (see ReplayProgress); nil for none.
	Progress func(p ReplayProgress)
}

// ReplayProgress is a snapshot of a running replay.
type ReplayProgress struct {
	File       string
	Lines      uint64
	TooLong    uint64
	Bytes      int64 // compressed bytes read, over all files
	TotalBytes int64 // size of all files on disk
	Done       bool
}

// ReplayResult sums a replay.
type ReplayResult struct {
	Lines, TooLong uint64
	InvalidUTF8    uint64
	Bytes          int64
	Ticks          int
	First, Last    time.Time // the log's clock
}

// Replay reads files (plain or gzip, detected by content) in order and
// hands their lines to the consumer in batches, marked as Replay.
func Replay(ctx context.Context, files []string, opt ReplayOptions) (ReplayResult, error) {
	if opt.BatchLines <= 0 {
		opt.BatchLines = 16384
	}
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = 64 << 10
	}
	if opt.Buffers <= 0 {
		opt.Buffers = defaultBuffers()
	}
	if opt.Tick != nil && (opt.Interval <= 0 || opt.TimeOf == nil) {
		return ReplayResult{}, fmt.Errorf("replay: Tick needs Interval and TimeOf")
	}
	var total int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return ReplayResult{}, fmt.Errorf("cannot replay %q: %w", f, err)
		}
		total += fi.Size()
	}
	r := &replayer{opt: opt, total: total, inf: newInflight(opt.Buffers)}
	r.src = opt.Source
	for _, f := range files {
		err := r.file(ctx, f)
		r.inf.wait()
		r.res.Lines = r.lines.Load()
		if err == nil {
			err = r.failed()
		}
		if err != nil {
			return r.res, err
		}
	}
	if opt.Tick != nil && !r.res.Last.IsZero() {
		// Close the last interval at its end.
		if err := opt.Tick(r.next); err != nil {
			return r.res, err
		}
		r.res.Ticks++
	}
	r.report("", true)
	return r.res, nil
}

type replayer struct {
	opt   ReplayOptions
	src   Source
	total int64
	read  atomic.Int64 // bytes of files done plus the current one
	base  int64
	res   ReplayResult
	next  time.Time // next tick boundary
	inf   *inflight
	lines atomic.Uint64 // lines consumed
	errMu sync.Mutex
	err   error // the first Consume error
}

func (r *replayer) failed() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// countingReader counts bytes read from the file (compressed size).
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (r *replayer) file(ctx context.Context, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("cannot replay %q: %w", name, err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	r.read.Store(r.base)
	var in io.Reader = bufio.NewReaderSize(countingReader{f, &r.read}, 64<<10)
	br := in.(*bufio.Reader)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("cannot replay %q: %w", name, err)
		}
		defer zr.Close()
		in = bufio.NewReaderSize(zr, 1<<20)
	}
	defer func() {
		if fi != nil {
			r.base += fi.Size()
		}
	}()
	sc := bufio.NewReaderSize(in, 256<<10)
	var (
		buf      = r.inf.take()
		pending  []byte
		skipping bool
		lastRep  = time.Now()
	)
	defer func() {
		if buf != nil {
			r.inf.free <- buf
		}
	}()
	flush := func() error {
		if len(buf.ends) == 0 {
			return nil
		}
		err := r.consume(name, buf)
		buf = nil
		if err != nil {
			return err
		}
		buf = r.inf.take()
		if err := r.failed(); err != nil {
			return err
		}
		if time.Since(lastRep) >= 200*time.Millisecond {
			lastRep = time.Now()
			r.report(name, false)
		}
		return ctx.Err()
	}
	add := func(line []byte) {
		line = trimLine(line)
		if len(line) == 0 {
			return
		}
		if len(line) > r.opt.MaxLineBytes {
			r.res.TooLong++
			return
		}
		if !utf8.Valid(line) {
			r.res.InvalidUTF8++
			return
		}
		buf.add(line)
	}
	for {
		line, err := sc.ReadSlice('\n')
		switch {
		case err == nil:
			if skipping {
				skipping = false
				r.res.TooLong++
				continue
			}
			if len(pending) > 0 {
				pending = append(pending, line...)
				line = pending
			}
			add(line)
			pending = pending[:0]
			if len(buf.ends) >= r.opt.BatchLines {
				if err := flush(); err != nil {
					return err
				}
			}
		case err == bufio.ErrBufferFull:
			if !skipping {
				pending = append(pending, line...)
				if len(pending) > r.opt.MaxLineBytes {
					skipping, pending = true, pending[:0]
				}
			}
		case err == io.EOF:
			if skipping {
				r.res.TooLong++
			} else {
				// A last line without a newline still counts (the
				// consumer decides whether it is complete).
				add(append(pending, line...))
			}
			return flush()
		default:
			return fmt.Errorf("cannot read %q: %w", name, err)
		}
	}
}

// consume hands buf's lines over, split at tick boundaries of the log's
// clock, and gives buf back once they are consumed. It returns while the
// last part is still being consumed; at a boundary it waits until every
// line before it is.
func (r *replayer) consume(name string, buf *batchBuf) error {
	lines := buf.split()
	for len(lines) > 0 {
		n := len(lines)
		if r.opt.Tick != nil {
			n = r.split(lines)
		}
		if n > 0 {
			var owner *batchBuf
			if n == len(lines) {
				owner = buf // the last part: buf is free once it is consumed
			}
			r.inf.submit(lines[:n], owner, func(part [][]byte) {
				b := Batch{Source: &r.src, File: name, Lines: part, Replay: true}
				if err := r.opt.Consumer.Consume(&b); err != nil {
					r.errMu.Lock()
					if r.err == nil {
						r.err = fmt.Errorf("replay %s: %w", name, err)
					}
					r.errMu.Unlock()
					return
				}
				r.lines.Add(uint64(len(part)))
			}, nil)
			lines = lines[n:]
		}
		if len(lines) > 0 {
			// lines[0] is at or past the boundary: close the interval once
			// every line before it is in.
			r.inf.wait()
			if err := r.failed(); err != nil {
				r.inf.free <- buf
				return err
			}
			r.res.Lines = r.lines.Load()
			if err := r.opt.Tick(r.next); err != nil {
				r.inf.free <- buf
				return err
			}
			r.res.Ticks++
			t, _ := r.timeAt(lines, 0)
			r.next = t.Truncate(r.opt.Interval).Add(r.opt.Interval)
		}
	}
	return nil
}

// split returns how many leading lines fall before the next boundary.
// Logs are written in time order, so a binary search over the batch finds
// the boundary; lines without a time go with the line before them.
func (r *replayer) split(lines [][]byte) int {
	if r.next.IsZero() {
		// The first line with a time starts the clock: a log may begin
		// with lines that do not parse.
		var t time.Time
		ok := false
		for i := 0; i < len(lines) && !ok; i++ {
			t, ok = r.opt.TimeOf(lines[i])
		}
		if !ok {
			return len(lines)
		}
		r.res.First = t
		r.next = t.Truncate(r.opt.Interval).Add(r.opt.Interval)
	}
	if t, ok := r.timeAt(lines, len(lines)-1); ok {
		r.res.Last = t
		if t.Before(r.next) {
			return len(lines)
		}
	}
	return sort.Search(len(lines), func(i int) bool {
		t, ok := r.timeAt(lines, i)
		return ok && !t.Before(r.next)
	})
}

// timeAt is the time of line i, or of the nearest earlier line with one.
func (r *replayer) timeAt(lines [][]byte, i int) (time.Time, bool) {
	for j := i; j >= 0 && j > i-16; j-- {
		if t, ok := r.opt.TimeOf(lines[j]); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

func (r *replayer) report(name string, done bool) {
	if r.opt.Progress == nil {
		return
	}
	r.opt.Progress(ReplayProgress{File: name, Lines: r.lines.Load(), TooLong: r.res.TooLong,
		Bytes: r.read.Load(), TotalBytes: r.total, Done: done})
}
