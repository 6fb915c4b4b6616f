package ingest

import "runtime"

// batchBuf holds the lines of one batch: their bytes back to back in
// arena, each ending at the offset in ends.
type batchBuf struct {
	arena []byte
	ends  []int
	lines [][]byte
}

func (b *batchBuf) add(line []byte) {
	b.arena = append(b.arena, line...)
	b.ends = append(b.ends, len(b.arena))
}

// split returns the lines as slices of arena.
func (b *batchBuf) split() [][]byte {
	b.lines = b.lines[:0]
	prev := 0
	for _, e := range b.ends {
		b.lines = append(b.lines, b.arena[prev:e])
		prev = e
	}
	return b.lines
}

func (b *batchBuf) reset() {
	// A log that went quiet does not keep a busy one's arena (up to 4 MiB
	// per buffer, Buffers of them per followed file).
	if cap(b.arena) > 1<<20 && len(b.arena) < cap(b.arena)/4 {
		b.arena = nil
	}
	b.arena, b.ends, b.lines = b.arena[:0], b.ends[:0], b.lines[:0]
}

// defaultBuffers is how many batches one reader may have between reading
// and applied: one being read and, on a machine with n cores, n being
// consumed at once. A single busy log then keeps every core working — a
// consumer's call waits for its slowest part, which would otherwise idle
// the other cores — and reading (and gunzip) overlaps with consuming.
func defaultBuffers() int { return max(2, runtime.GOMAXPROCS(0)) + 1 }

// inflight consumes one reader's batches on their own goroutines, several
// at once, and commits them in the order they were read: a batch's commit
// (recording its end offset as applied) runs only after every batch read
// before it has been consumed and committed, so an offset never covers a
// line whose effect is not in the tree yet.
type inflight struct {
	free chan *batchBuf
	last chan struct{} // closed when the last submitted batch is committed
}

func newInflight(buffers int) *inflight {
	p := &inflight{free: make(chan *batchBuf, buffers)}
	for range buffers {
		p.free <- &batchBuf{}
	}
	return p
}

// take returns an empty buffer, waiting while all the others are in flight.
func (p *inflight) take() *batchBuf { return <-p.free }

// submit runs consume(lines) (unless it is nil) on a goroutine, then, once
// every batch submitted before has committed, commit; then b (nil: the
// caller keeps the buffer and must wait before reusing it) is reset and
// free again.
func (p *inflight) submit(lines [][]byte, b *batchBuf, consume func([][]byte), commit func()) {
	prev := p.last
	done := make(chan struct{})
	p.last = done
	go func() {
		if consume != nil {
			consume(lines)
		}
		if prev != nil {
			<-prev
		}
		if commit != nil {
			commit()
		}
		close(done)
		if b != nil {
			b.reset()
			p.free <- b
		}
	}()
}

// wait returns when every batch submitted so far has committed.
func (p *inflight) wait() {
	if p.last != nil {
		<-p.last
	}
}
