package relay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// queue is one upstream's store-and-forward queue: numbered records in
// segment files on disk. A record is on disk (in the OS's page cache) before
// Append returns, so a kill -9 of the relay loses nothing it acknowledged;
// Sync makes it survive a machine crash too. Records leave only when the
// upstream has them durably (Release), or when the queue is over its byte
// bound, oldest segment first (counted as dropped).
//
// Segment file "<first seq, 20 digits>.seg"; each record:
//
//	length uint32 LE (of seq + payload), crc32c uint32 LE (of seq + payload),
//	seq uint64 LE, payload
type queue struct {
	dir      string
	maxBytes int64
	segBytes int64

	mu      sync.Mutex
	segs    []*segment // oldest first; the last is written to
	next    uint64     // the number the next record gets
	bytes   int64
	dropped uint64 // records dropped because the queue was full
	f       *os.File
	w       *bufio.Writer
	notify  chan struct{}
	cursor  readCursor // where the last Read stopped

	readMu sync.Mutex    // one Read at a time (there is one forwarder)
	rd     *bufio.Reader // Read's, reused: a new one allocates its buffer
}

type readCursor struct {
	path string
	off  int64
	seq  uint64 // the number of the record at off
}

type segment struct {
	first, last uint64 // last = first-1 while empty
	path        string
	size        int64
}

const recHeader = 16

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// openQueue opens (or creates) the queue in dir, scanning existing segments
// to find the numbering; a torn record at the end of the last segment (a
// crash mid-write) is cut off.
func openQueue(dir string, maxBytes int64) (*queue, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create relay queue folder %q: %w", dir, err)
	}
	q := &queue{dir: dir, maxBytes: maxBytes, segBytes: min(maxBytes/8+1, 8<<20), next: 1, notify: make(chan struct{}, 1)}
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".seg"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("relay queue %q: unexpected file %q", dir, name)
		}
		s := &segment{first: first, last: first - 1, path: name}
		valid, last, err := scanSegment(name, first)
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(name); err == nil && fi.Size() != valid {
			// torn tail from a crash mid-append: keep the whole records only
			if err := os.Truncate(name, valid); err != nil {
				return nil, fmt.Errorf("cannot repair relay queue segment %q: %w", name, err)
			}
		}
		s.size, s.last = valid, last
		q.segs = append(q.segs, s)
		q.bytes += valid
		q.next = max(q.next, last+1, first)
	}
	return q, nil
}

// scanSegment returns the length of the valid prefix and the last number in it.
func scanSegment(path string, first uint64) (int64, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot open relay queue segment: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	last := first - 1
	for {
		seq, payload, err := readRecord(r)
		if err != nil {
			return off, last, nil // EOF or a torn record: the valid part ends here
		}
		off += recHeader + int64(len(payload))
		last = seq
	}
}

func readRecord(r *bufio.Reader) (uint64, []byte, error) {
	seq, payload, _, err := readRecordInto(r, nil)
	return seq, payload, err
}

// readRecordInto reads a record's payload into the free end of buf (a new
// chunk when it does not fit) and returns buf with it: one batch of
// records takes a few allocations, not one each.
func readRecordInto(r *bufio.Reader, buf []byte) (uint64, []byte, []byte, error) {
	var h [recHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.LittleEndian.Uint32(h[0:])
	sum := binary.LittleEndian.Uint32(h[4:])
	if n < 8 || n > 1<<30 {
		return 0, nil, buf, errors.New("bad record length")
	}
	size := int(n - 8)
	if cap(buf)-len(buf) < size {
		buf = make([]byte, 0, max(size, min(2*cap(buf), 8<<20), 64<<10))
	}
	body := buf[len(buf) : len(buf)+size : len(buf)+size]
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, buf, err
	}
	crc := crc32.Update(crc32.Checksum(h[8:16], crcTable), crcTable, body)
	if crc != sum {
		return 0, nil, buf, errors.New("bad record checksum")
	}
	return binary.LittleEndian.Uint64(h[8:]), body, buf[:len(buf)+size], nil
}

// Append stores payload as the next record and returns its number.
func (q *queue) Append(payload []byte) (uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.rollLocked(); err != nil {
		return 0, err
	}
	seq := q.next
	var h [recHeader]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(8+len(payload)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	binary.LittleEndian.PutUint32(h[4:], crc32.Update(crc32.Checksum(h[8:16], crcTable), crcTable, payload))
	q.w.Write(h[:])
	q.w.Write(payload)
	// Flushed to the OS before the sender is acknowledged: survives kill -9.
	if err := q.w.Flush(); err != nil {
		return 0, fmt.Errorf("cannot write relay queue %q: %w", q.dir, err)
	}
	s := q.segs[len(q.segs)-1]
	s.last = seq
	s.size += recHeader + int64(len(payload))
	q.bytes += recHeader + int64(len(payload))
	q.next++
	q.dropOverLocked()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return seq, nil
}

// rollLocked opens a new segment when there is none or the current is full.
func (q *queue) rollLocked() error {
	if q.f != nil && q.segs[len(q.segs)-1].size < q.segBytes {
		return nil
	}
	if q.f != nil {
		q.w.Flush()
		q.f.Close()
		q.f = nil
	}
	if n := len(q.segs); n > 0 && q.segs[n-1].size < q.segBytes {
		// reopen the last segment after a restart
		f, err := os.OpenFile(q.segs[n-1].path, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("cannot reopen relay queue segment: %w", err)
		}
		q.f, q.w = f, bufio.NewWriterSize(f, 64<<10)
		return nil
	}
	path := filepath.Join(q.dir, fmt.Sprintf("%020d.seg", q.next))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot create relay queue segment: %w", err)
	}
	q.f, q.w = f, bufio.NewWriterSize(f, 64<<10)
	q.segs = append(q.segs, &segment{first: q.next, last: q.next - 1, path: path})
	return nil
}

// dropOverLocked removes the oldest segments while the queue is over its
// bound; the newest segment is never dropped.
func (q *queue) dropOverLocked() {
	for q.bytes > q.maxBytes && len(q.segs) > 1 {
		s := q.segs[0]
		os.Remove(s.path)
		q.bytes -= s.size
		q.dropped += s.last - s.first + 1
		q.segs = q.segs[1:]
	}
}

// Release removes segments whose records are all at or below seq: the
// upstream holds them durably.
func (q *queue) Release(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.segs) > 1 && q.segs[0].last <= seq {
		s := q.segs[0]
		os.Remove(s.path)
		q.bytes -= s.size
		q.segs = q.segs[1:]
	}
}

// Read returns records from number from on, up to maxBytes of payload (at
// least one record when any is there), and the number after the last
// returned. Records dropped for space are skipped. Reads that continue where
// the last one stopped seek straight there.
func (q *queue) Read(from uint64, maxBytes int) ([][]byte, uint64, error) {
	q.readMu.Lock()
	defer q.readMu.Unlock()
	q.mu.Lock()
	if q.w != nil {
		q.w.Flush()
	}
	var segs []segment
	for _, s := range q.segs {
		if s.last >= from {
			segs = append(segs, *s)
		}
	}
	cur := q.cursor
	q.mu.Unlock()
	var out [][]byte
	var buf []byte
	size := 0
	next := from
	for _, s := range segs {
		if next < s.first {
			next = s.first // dropped records
		}
		f, err := os.Open(s.path)
		if err != nil {
			return nil, from, fmt.Errorf("cannot read relay queue segment: %w", err)
		}
		var off int64
		if cur.path == s.path && cur.seq == next {
			off = cur.off
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				f.Close()
				return nil, from, err
			}
		}
		if q.rd == nil {
			q.rd = bufio.NewReaderSize(f, 1<<20)
		} else {
			q.rd.Reset(f)
		}
		r := q.rd
		full := false
		for {
			seq, payload, b, err := readRecordInto(r, buf)
			buf = b
			if err != nil || seq > s.last {
				break
			}
			off += recHeader + int64(len(payload))
			if seq < next {
				continue
			}
			out = append(out, payload)
			size += len(payload)
			next = seq + 1
			if size >= maxBytes {
				full = true
				break
			}
		}
		f.Close()
		q.mu.Lock()
		q.cursor = readCursor{path: s.path, off: off, seq: next}
		q.mu.Unlock()
		if full {
			break
		}
	}
	return out, next, nil
}

// Sync makes appended records durable against a machine crash.
func (q *queue) Sync() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return nil
	}
	q.w.Flush()
	return q.f.Sync()
}

// Stats returns the queue's depth in records and bytes, and the drops.
func (q *queue) Stats() (records uint64, bytes int64, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.segs) > 0 {
		records = q.next - q.segs[0].first
	}
	return records, q.bytes, q.dropped
}

// Next returns the number the next record will get.
func (q *queue) Next() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.next
}

func (q *queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return nil
	}
	q.w.Flush()
	err := q.f.Close()
	q.f = nil
	return err
}
