package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// openFile is one file being read.
type openFile struct {
	f    *os.File
	name string
	id   fileID
	br   *bufio.Reader
	// fp is the head fingerprint as the reader verified it; fpApplied is
	// the one recorded with applied (what a checkpoint stores), fpSent the
	// one the last batch handed over will record.
	fp, fpApplied, fpSent fingerprint
	head                  []byte // scratch for head checks

	pos      int64 // bytes returned by br so far (file offset of br's next byte)
	consumed int64 // offset after the last complete line read
	applied  int64 // offset after the last line the consumer applied
	sent     int64 // offset after the last line handed to the consumer
	pending  []byte
	skipping bool // inside a line longer than MaxLineBytes

	// retired files (renamed away or a copytruncate's copy) are finished
	// and closed once quiet for quietFor.
	quietFor  time.Duration
	lastGrown time.Time
}

func openAt(f *os.File, name string, fi os.FileInfo, off int64) (*openFile, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	fp, err := readFingerprint(f)
	if err != nil {
		return nil, err
	}
	of := &openFile{f: f, name: name, id: idOf(fi), fp: fp, fpApplied: fp, fpSent: fp, head: make([]byte, fpMax),
		pos: off, consumed: off, applied: off, sent: off, lastGrown: time.Now()}
	of.br = bufio.NewReaderSize(headChecker{of}, 64<<10)
	return of, nil
}

// errTruncated reports that the file no longer starts with the bytes it
// started with: it was truncated (and maybe rewritten) under the reader.
var errTruncated = errors.New("file truncated")

// headChecker verifies after every read that the file still has the head
// it had. A copytruncate can happen between two reads; bytes read after it
// come from new content at an old offset and must not be used, so the
// whole read is dropped and the caller recovers from the rotated copy.
type headChecker struct{ of *openFile }

func (h headChecker) Read(p []byte) (int, error) {
	of := h.of
	n, err := of.f.Read(p)
	if !of.headMatches() {
		return 0, errTruncated
	}
	if of.fp.N < fpMax && (n > 0 || of.fp.N == 0) {
		// Widen a short fingerprint as the file grows, but only over a head
		// that still starts with the bytes verified above (a truncation
		// could come in between).
		m, ferr := of.f.ReadAt(of.head, 0)
		if (ferr == nil || ferr == io.EOF) && m > of.fp.N && (of.fp.N == 0 || sum(of.head[:of.fp.N]) == of.fp.Sum) {
			of.fp = fingerprint{N: m, Sum: sum(of.head[:m])}
		}
	}
	return n, err
}

func (of *openFile) headMatches() bool {
	fp := of.fp
	if fp.N == 0 {
		return true
	}
	n, err := of.f.ReadAt(of.head[:fp.N], 0)
	if n < fp.N || err != nil && err != io.EOF {
		return false
	}
	return sum(of.head[:fp.N]) == fp.Sum
}

// follower follows one concrete path.
type follower struct {
	in   *Ingester
	src  *FileSource
	path string
	wake chan struct{}

	cur      *openFile
	retired  []*openFile // read before cur: they hold older lines
	known    []fileState // recently finished files, never read again
	restored bool        // started from a checkpoint entry
	fromEnd  bool
	// openErr is why the live path exists but cannot be read (permission
	// denied, a folder), logged once when it changes and shown in /status.
	openErr atomic.Pointer[string]

	// inf consumes the batches read; buf is the one being read.
	inf *inflight
	buf *batchBuf
}

func (in *Ingester) newFollower(src FileSource, path string, initial bool) *follower {
	s := src
	fl := &follower{in: in, src: &s, path: path, wake: make(chan struct{}, 1), fromEnd: initial && in.opt.FromEnd,
		inf: newInflight(in.opt.Buffers)}
	fl.buf = fl.inf.take()
	in.register(filepath.Dir(path), fl.wake)
	if st, ok := in.saved[path]; ok {
		fl.fromEnd = false
		fl.restore(st)
	}
	return fl
}

// files lists the open files, oldest first. Callers hold the gate.
func (fl *follower) files() []*openFile {
	out := append([]*openFile(nil), fl.retired...)
	if fl.cur != nil {
		out = append(out, fl.cur)
	}
	return out
}

func (fl *follower) held(id fileID) bool {
	for _, of := range fl.files() {
		if of.id == id {
			return true
		}
	}
	return false
}

// restore reopens the files of a checkpoint entry, wherever rotation has
// moved them while the daemon was down.
func (fl *follower) restore(states []fileState) {
	fl.restored = true
	logf := fl.in.opt.Logf
	for _, st := range states {
		if st.Live {
			f, fi := findFile(fl.path, st, true, fl.held)
			if f != nil && f.Name() == fl.path {
				of, err := openAt(f, fl.path, fi, st.Offset)
				if err == nil {
					of.fp = maxFP(of.fp, st.FP)
					of.fpApplied, of.fpSent = of.fp, of.fp
					fl.cur = of
					continue
				}
				f.Close()
			}
			if f != nil {
				// Renamed away while we were down: finish it, then the new live file.
				if of, err := openAt(f, f.Name(), fi, st.Offset); err == nil {
					of.quietFor = fl.in.opt.RotateWait
					fl.retired = append(fl.retired, of)
					fl.retired = append(fl.retired, fl.catchUp(of)...)
					fl.in.stats.Rotations.Add(1)
					continue
				}
				f.Close()
			}
			// Truncated (copytruncate) while we were down: the copy has the rest.
			if f, fi := findFile(fl.path, st, false, fl.held); f != nil {
				if of, err := openAt(f, f.Name(), fi, st.Offset); err == nil {
					fl.retired = append(fl.retired, of)
					fl.in.stats.Truncations.Add(1)
					logf("ingest: %s was truncated while canopyd was down; reading the rest from %s", fl.path, f.Name())
					continue
				}
				f.Close()
			}
			fl.in.stats.LostTruncate.Add(1)
			logf("ingest: %s: cannot find the file read up to offset %d (inode %d); its unread lines are lost", fl.path, st.Offset, st.ID.Ino)
			continue
		}
		f, fi := findFile(fl.path, st, true, fl.held)
		if f == nil {
			f, fi = findFile(fl.path, st, false, fl.held)
		}
		if f == nil {
			logf("ingest: %s: rotated file %s (inode %d) is gone; lines after offset %d are lost", fl.path, st.Name, st.ID.Ino, st.Offset)
			fl.in.stats.LostTruncate.Add(1)
			continue
		}
		of, err := openAt(f, f.Name(), fi, st.Offset)
		if err != nil {
			f.Close()
			continue
		}
		of.quietFor = fl.in.opt.RotateWait
		fl.retired = append(fl.retired, of)
	}
}

func maxFP(a, b fingerprint) fingerprint {
	if b.N > a.N {
		return b
	}
	return a
}

func (fl *follower) run(ctx context.Context) {
	t := time.NewTicker(fl.in.opt.PollInterval)
	defer t.Stop()
	defer func() {
		// Run returns with every line read applied.
		fl.inf.wait()
		for _, of := range fl.files() {
			of.f.Close()
		}
	}()
	for {
		fl.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-fl.wake:
		case <-t.C:
		}
	}
}

// step reads everything new: retired files first, then the live file,
// then checks whether the live file was rotated or truncated.
func (fl *follower) step(ctx context.Context) {
	for round := 0; round < 4 && ctx.Err() == nil; round++ {
		for i := 0; i < len(fl.retired) && ctx.Err() == nil; {
			of := fl.retired[i]
			err := fl.readAll(ctx, of)
			if errors.Is(err, errTruncated) {
				// Read the copy (now at i) first, then this file again.
				fl.truncated(of)
				continue
			}
			if err != nil || time.Since(of.lastGrown) >= of.quietFor {
				if err != nil {
					fl.in.opt.Logf("ingest: cannot read %s: %v", of.name, err)
				}
				fl.finish(of, i)
				continue
			}
			i++
		}
		if ctx.Err() != nil {
			return
		}
		if fl.cur == nil && !fl.openLive() {
			return
		}
		err := fl.readAll(ctx, fl.cur)
		switch {
		case errors.Is(err, errTruncated):
			fl.truncated(fl.cur)
			continue
		case err != nil:
			fl.in.opt.Logf("ingest: cannot read %s: %v", fl.cur.name, err)
		}
		if ctx.Err() != nil || !fl.checkLive() {
			return
		}
		// The live file changed: read the new one right away.
	}
}

// finish closes retired file i after emitting a last unterminated line.
func (fl *follower) finish(of *openFile, i int) {
	if len(of.pending) > 0 && !of.skipping {
		fl.add(of, of.pending)
		of.consumed = of.pos
	}
	fl.flush(of)
	fl.inf.wait()
	fl.in.gate.RLock()
	fl.retired = append(fl.retired[:i], fl.retired[i+1:]...)
	fl.in.gate.RUnlock()
	fl.known = append(fl.known, fileState{Name: of.name, ID: of.id, FP: of.fp})
	if len(fl.known) > 64 {
		fl.known = fl.known[len(fl.known)-64:]
	}
	of.f.Close()
}

// openLive opens the live path when it exists.
func (fl *follower) openLive() bool {
	f, err := os.Open(fl.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fl.setOpenErr("")
		} else {
			fl.setOpenErr(reason(err))
		}
		return false
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		fl.setOpenErr("not a regular file")
	}
	if err != nil || !fi.Mode().IsRegular() || fl.held(idOf(fi)) {
		f.Close()
		return false
	}
	fl.setOpenErr("")
	off := int64(0)
	if fl.fromEnd {
		off = fi.Size()
		fl.fromEnd = false
	}
	of, err := openAt(f, fl.path, fi, off)
	if err != nil {
		f.Close()
		return false
	}
	fl.in.gate.RLock()
	fl.cur = of
	fl.in.gate.RUnlock()
	return true
}

// setOpenErr records why the live path cannot be read ("" when it can or
// is missing), logging each new reason once rather than every poll.
func (fl *follower) setOpenErr(why string) {
	prev := fl.openErr.Load()
	switch {
	case prev == nil && why == "", prev != nil && *prev == why:
		return
	case why == "":
		fl.openErr.Store(nil)
		if _, err := os.Stat(fl.path); err == nil {
			fl.in.opt.Logf("ingest: log %q is readable now", fl.path)
		}
		return
	}
	fl.openErr.Store(&why)
	fl.in.opt.Logf("ingest: cannot read log %q: %s; it is followed once readable", fl.path, why)
}

// reason is err without the path a *fs.PathError repeats.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// checkLive compares the live file with the path: a different inode means a
// rename rotation (or a replaced file); truncations are caught while
// reading. It returns true when it switched files.
func (fl *follower) checkLive() bool {
	of := fl.cur
	fi, err := os.Stat(fl.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fl.retire(of)
		}
		return false
	}
	if idOf(fi) != of.id {
		fl.retire(of)
		return true
	}
	if ofi, err := of.f.Stat(); err == nil && nlinkOf(ofi) == 0 {
		fl.retire(of)
		return true
	}
	return false
}

// retire moves the live file to the retired list: a writer may still
// append to it until it reopens, so it is read until quiet.
func (fl *follower) retire(of *openFile) {
	of.quietFor = fl.in.opt.RotateWait
	of.lastGrown = time.Now()
	missed := fl.catchUp(of)
	fl.in.gate.RLock()
	fl.retired = append(fl.retired, of)
	fl.retired = append(fl.retired, missed...)
	fl.cur = nil
	fl.in.gate.RUnlock()
	fl.in.stats.Rotations.Add(1)
}

// catchUp finds rotated files that appeared after ref stopped being the
// live file and that this follower never read: a reader stopped across
// more than one rename rotation (or a daemon down across them) would
// otherwise skip them. A candidate has a rotated name, is newer than ref,
// and is neither a file we hold or finished nor a copy of one (same head).
// They are returned oldest first, to be read from their start.
func (fl *follower) catchUp(ref *openFile) []*openFile {
	rfi, err := ref.f.Stat()
	if err != nil {
		return nil
	}
	type cand struct {
		of    *openFile
		mtime time.Time
	}
	var cands []cand
	for _, p := range siblings(fl.path) {
		if !looksRotated(filepath.Base(p)) {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		if err != nil || !fi.ModTime().After(rfi.ModTime()) || fi.Size() == 0 || idOf(fi) == ref.id || fl.held(idOf(fi)) || fl.seen(f, idOf(fi)) {
			f.Close()
			continue
		}
		of, err := openAt(f, p, fi, 0)
		if err != nil {
			f.Close()
			continue
		}
		of.quietFor = fl.in.opt.RotateWait
		cands = append(cands, cand{of, fi.ModTime()})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].mtime.Before(cands[j].mtime) })
	out := make([]*openFile, len(cands))
	for i, c := range cands {
		out[i] = c.of
		fl.in.opt.Logf("ingest: %s: reading %s, rotated away before it was read", fl.path, c.of.name)
	}
	return out
}

// seen reports whether f is a file this follower holds or finished, or a
// copy of one (it starts with the same head).
func (fl *follower) seen(f *os.File, id fileID) bool {
	states := append([]fileState(nil), fl.known...)
	for _, of := range fl.files() {
		states = append(states, fileState{ID: of.id, FP: of.fp})
	}
	for _, st := range states {
		if st.ID == id || st.FP.N > 0 && st.FP.matches(f) {
			return true
		}
	}
	return false
}

// truncated handles a copytruncate: whatever was not yet read is in the
// rotated copy (same head), so read that from our offset, then the
// truncated file from its start.
func (fl *follower) truncated(of *openFile) {
	// Batches of the old content commit their offsets first.
	fl.inf.wait()
	fl.in.stats.Truncations.Add(1)
	st := fileState{Name: of.name, ID: of.id, FP: of.fp, Offset: of.consumed}
	copyF, fi := findFile(fl.path, st, false, fl.held)
	var cp *openFile
	if copyF != nil {
		c, err := openAt(copyF, copyF.Name(), fi, of.consumed)
		if err != nil {
			copyF.Close()
		} else {
			cp = c
			cp.quietFor = 0 // a copy does not grow
			fl.in.stats.Recovered.Add(uint64(fi.Size() - of.consumed))
		}
	} else if of.fp.N > 0 {
		fl.in.stats.LostTruncate.Add(1)
		fl.in.opt.Logf("ingest: %s was truncated at offset %d and no rotated copy with the same head was found; unread lines are lost", of.name, of.consumed)
	}
	fp, _ := readFingerprint(of.f)
	fl.in.gate.RLock()
	defer fl.in.gate.RUnlock()
	if cp != nil {
		// The copy goes right before the truncated file in read order.
		i := len(fl.retired)
		for j, r := range fl.retired {
			if r == of {
				i = j
			}
		}
		fl.retired = append(fl.retired[:i], append([]*openFile{cp}, fl.retired[i:]...)...)
	}
	if _, err := of.f.Seek(0, io.SeekStart); err == nil {
		of.br.Reset(headChecker{of})
		of.pos, of.consumed, of.applied, of.sent = 0, 0, 0, 0
		of.pending, of.skipping = of.pending[:0], false
		of.fp, of.fpApplied, of.fpSent = fp, fp, fp
	}
}

// readAll reads of to its end, handing complete lines to the consumer in
// batches. A partial last line waits for its newline.
func (fl *follower) readAll(ctx context.Context, of *openFile) error {
	maxLine := fl.in.opt.MaxLineBytes
	// Growth is noted once per call, not per line: only the caller looks
	// at lastGrown, after the call.
	from := of.pos
	defer func() {
		if of.pos > from {
			of.lastGrown = time.Now()
		}
	}()
	for {
		line, err := of.br.ReadSlice('\n')
		of.pos += int64(len(line))
		switch {
		case err == nil:
			if of.skipping {
				of.skipping = false
				of.consumed = of.pos
				fl.in.tooLong(of.name, of.pos)
				continue
			}
			if len(of.pending) > 0 {
				of.pending = append(of.pending, line...)
				line = of.pending
			}
			if len(line) > maxLine+1 {
				fl.in.tooLong(of.name, of.pos)
			} else {
				fl.add(of, line)
			}
			of.pending = of.pending[:0]
			of.consumed = of.pos
			if len(fl.buf.ends) >= fl.in.opt.BatchLines || len(fl.buf.arena) >= 4<<20 {
				fl.flush(of)
				if ctx.Err() != nil {
					return nil
				}
			}
		case errors.Is(err, errTruncated):
			// Every line read so far passed the head check after its read,
			// so it predates the truncation: apply it, then recover the
			// rest from the copy starting at consumed.
			fl.flush(of)
			return err
		case errors.Is(err, bufio.ErrBufferFull) || err == io.EOF:
			if !of.skipping {
				of.pending = append(of.pending, line...)
				if len(of.pending) > maxLine {
					of.skipping = true
					of.pending = of.pending[:0]
				}
			}
			if err == io.EOF {
				fl.flush(of)
				return nil
			}
		default:
			fl.flush(of)
			return err
		}
	}
}

// add appends a line to the batch being built.
func (fl *follower) add(of *openFile, line []byte) {
	line = trimLine(line)
	if len(line) == 0 {
		return
	}
	if !utf8.Valid(line) {
		// nginx escapes non-ASCII bytes in logs (\xHH), so raw invalid
		// UTF-8 means a corrupt line.
		fl.in.stats.InvalidUTF8.Add(1)
		fl.in.logBad(fmt.Sprintf("%s: line with invalid UTF-8 before offset %d", of.name, of.pos), line)
		return
	}
	fl.buf.add(line)
}

// flush hands the batch to the consumer; its end is recorded as applied
// once it and every batch before it are in the tree. The reader goes on
// meanwhile, waiting only when all its buffers are in flight.
func (fl *follower) flush(of *openFile) {
	b := fl.buf
	if len(b.ends) == 0 && of.consumed == of.sent && of.fp == of.fpSent {
		return
	}
	name, start, end, fp := of.name, of.sent, of.consumed, of.fp
	of.sent, of.fpSent = end, fp
	var consume func([][]byte)
	if len(b.ends) > 0 {
		src, in, bytes := &fl.src.Source, fl.in, len(b.arena)
		consume = func(lines [][]byte) {
			bt := Batch{Source: src, File: name, Start: start, End: end, Lines: lines}
			if err := in.opt.Consumer.Consume(&bt); err != nil {
				in.stats.ConsumeErrs.Add(1)
			}
			in.stats.Lines.Add(uint64(len(lines)))
			in.stats.Bytes.Add(uint64(bytes))
		}
	}
	// The gate is held shared from here to the commit, so a checkpoint
	// waits for the batches in flight and never sees an offset whose lines
	// are half applied.
	fl.in.gate.RLock()
	fl.inf.submit(b.split(), b, consume, func() {
		of.applied, of.fpApplied = end, fp
		fl.in.gate.RUnlock()
	})
	fl.buf = fl.inf.take()
}
