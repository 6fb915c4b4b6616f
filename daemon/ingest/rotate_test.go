package ingest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lineCounter is a consumer that counts numbered lines ("line 0000042 …").
type lineCounter struct {
	mu         sync.Mutex
	seen       []uint8
	total      atomic.Int64
	bad        atomic.Int64
	pauseUntil atomic.Int64 // unix nanos: Consume blocks until then
}

func newLineCounter(n int) *lineCounter { return &lineCounter{seen: make([]uint8, n)} }

func (c *lineCounter) Consume(b *Batch) error {
	if until := c.pauseUntil.Load(); until > 0 {
		time.Sleep(time.Until(time.Unix(0, until)))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range b.Lines {
		n, ok := lineNumber(l)
		if !ok || n >= len(c.seen) {
			c.bad.Add(1)
			continue
		}
		if c.seen[n] < 255 {
			c.seen[n]++
		}
		c.total.Add(1)
	}
	return nil
}

func lineNumber(l []byte) (int, bool) {
	if len(l) < 12 || string(l[:5]) != "line " {
		return 0, false
	}
	n, err := strconv.Atoi(string(l[5:12]))
	return n, err == nil
}

func numberedLine(i int) string {
	return fmt.Sprintf("line %07d 127.0.0.1 - - [26/Nov/2026:12:00:00 +0000] \"GET /x/%d HTTP/1.1\" 200 512 \"-\" \"curl/8.0\"\n", i, i%977)
}

// rotationWriter appends numbered lines like nginx (one write per line,
// O_APPEND) and reopens the path on request (nginx's USR1).
type rotationWriter struct {
	path   string
	reopen chan chan struct{}
	done   chan struct{} // closed when the writer has written everything
}

func (w *rotationWriter) run(t *testing.T, n int, step func(i int)) {
	defer close(w.done)
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	for i := 0; i < n; i++ {
		select {
		case done := <-w.reopen:
			f.Close()
			if f, err = os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
				t.Error(err)
				return
			}
			close(done)
		default:
		}
		if _, err := f.WriteString(numberedLine(i)); err != nil {
			t.Error(err)
			return
		}
		step(i)
	}
	f.Close()
}

// shift renames path.k to path.k+1 for k = n..1, as logrotate does.
func shift(t *testing.T, path string, n int) {
	for k := n; k >= 1; k-- {
		old := fmt.Sprintf("%s.%d", path, k)
		if _, err := os.Stat(old); err == nil {
			if err := os.Rename(old, fmt.Sprintf("%s.%d", path, k+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// copyTruncate copies path to dst and truncates path, like logrotate's
// copytruncate (lines written between the two are lost by logrotate).
func copyTruncate(t *testing.T, path, dst string) {
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	out.Close()
	src.Close()
	// logrotate copies, then truncates; lines written in between are lost
	// by logrotate itself. Widen that window a little so the test counts it.
	time.Sleep(2 * time.Millisecond)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// linesInFiles returns which numbered lines exist in the log and its copies.
func linesInFiles(t *testing.T, path string, n int) []bool {
	present := make([]bool, n)
	files, _ := filepath.Glob(path + "*")
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		first, last, cnt := -1, -1, 0
		for sc.Scan() {
			if i, ok := lineNumber(sc.Bytes()); ok && i < n {
				present[i] = true
				if first < 0 {
					first = i
				}
				last = i
				cnt++
			}
		}
		t.Logf("%s: lines %d..%d (%d)", filepath.Base(p), first, last, cnt)
		f.Close()
	}
	return present
}

type rotationCase struct {
	name  string
	lines int
	// every is the time between rotations (the writer is paced to it).
	every time.Duration
	// pause makes the reader stall this long around every copytruncate.
	pause time.Duration
}

func TestRotation(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 40_000
	}
	for _, tc := range []rotationCase{
		{name: "keeping-up", lines: n, every: time.Second},
		{name: "paused-around-copytruncate", lines: n, every: 2 * time.Second, pause: 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) { runRotation(t, tc) })
	}
}

func runRotation(t *testing.T, tc rotationCase) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	counter := newLineCounter(tc.lines)
	in, err := New(Options{
		Files:        []FileSource{{Path: path}},
		Consumer:     counter,
		PollInterval: 20 * time.Millisecond,
		RotateWait:   300 * time.Millisecond,
		Logf:         t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		in.Run(ctx)
		close(done)
	}()
	defer func() { cancel(); <-done }()

	// 10 rotations spread over the run, alternating rename and copytruncate.
	w := &rotationWriter{path: path, reopen: make(chan chan struct{}, 1), done: make(chan struct{})}
	rotateAt := tc.lines / 11
	rotations := make(chan int, 16)
	var rotWG sync.WaitGroup
	rotWG.Add(1)
	go func() {
		defer rotWG.Done()
		k := 0
		for range rotations {
			k++
			shift(t, path, k)
			if k%2 == 1 {
				// logrotate "create": rename, create, then signal the writer.
				if err := os.Rename(path, path+".1"); err != nil {
					t.Error(err)
					return
				}
				f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				f.Close()
				time.Sleep(20 * time.Millisecond) // postrotate runs a little later
				ack := make(chan struct{})
				select {
				case w.reopen <- ack:
					select {
					case <-ack:
					case <-w.done:
					}
				case <-w.done:
				}
				continue
			}
			if tc.pause > 0 {
				counter.pauseUntil.Store(time.Now().Add(tc.pause).UnixNano())
				time.Sleep(tc.pause / 3)
			}
			copyTruncate(t, path, path+".1")
		}
	}()
	// Pace the writer so rotations come tc.every apart, like a busy site
	// rotated often rather than a burst.
	const tick = 10 * time.Millisecond
	perTick := max(1, rotateAt/int(tc.every/tick))
	start := time.Now()
	w.run(t, tc.lines, func(i int) {
		if i > 0 && i%rotateAt == 0 && i/rotateAt <= 10 {
			rotations <- i
		}
		if i%perTick == 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i/perTick) * tick)))
		}
	})
	close(rotations)
	rotWG.Wait()

	present := linesInFiles(t, path, tc.lines)
	want := 0
	for _, p := range present {
		if p {
			want++
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for counter.total.Load() < int64(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // anything extra would show as a double count
	counter.mu.Lock()
	defer counter.mu.Unlock()
	var dup, lost, droppedByRotate, readDespiteDrop int
	for i, c := range counter.seen {
		switch {
		case c > 1:
			dup++
			if dup < 5 {
				t.Errorf("line %d counted %d times", i, c)
			}
		case c == 0 && present[i]:
			lost++
			if lost < 5 || counter.seen[i-1] != 0 {
				t.Errorf("line %d is in the files but was never counted", i)
			}
		case c == 0:
			droppedByRotate++
		case !present[i]:
			readDespiteDrop++
		}
	}
	if dup > 0 || lost > 0 || counter.bad.Load() > 0 {
		t.Logf("status: %+v", in.Status())
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Logf("%s", buf[:n])
		t.Fatalf("%d lines counted twice, %d lost, %d garbled (of %d)", dup, lost, counter.bad.Load(), tc.lines)
	}
	st := in.Stats()
	t.Logf("%d lines written, %d counted; logrotate's copy-to-truncate window dropped %d (the reader caught %d more before the truncate); rotations %d, truncations %d, recovered %d bytes from copies",
		tc.lines, counter.total.Load(), droppedByRotate, readDespiteDrop, st.Rotations.Load(), st.Truncations.Load(), st.Recovered.Load())
	if got := st.Truncations.Load(); got < 5 {
		t.Errorf("noticed %d truncations, want 5", got)
	}
}
