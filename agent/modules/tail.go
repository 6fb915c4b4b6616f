package modules

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
)

// tailer follows a file like tail -F, pulled by the module: it starts at
// the end, hands out complete lines only, finishes a renamed file before
// switching to the new one, and starts over when the file is truncated.
type tailer struct {
	path    string
	f       *os.File
	ino     uint64
	off     int64
	started bool
	partial []byte
}

// maxPartial bounds a line without a newline; past it the text is handed
// out as a line of its own.
const maxPartial = 1 << 20

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func (t *tailer) open(fromEnd bool) error {
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	t.f, t.ino, t.off = f, inode(fi), 0
	if fromEnd {
		t.off = fi.Size()
	}
	return nil
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// read appends up to max bytes of complete new lines to dst.
func (t *tailer) read(max int, dst []byte) ([]byte, error) {
	if t.f == nil {
		if err := t.open(!t.started); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				t.started = true // it appears later: read it from its start
				return dst, nil
			}
			return dst, err
		}
		t.started = true
	}
	data := append([]byte(nil), t.partial...)
	for len(data) < max {
		buf := make([]byte, min(max-len(data), 256<<10))
		n, err := t.f.ReadAt(buf, t.off)
		t.off += int64(n)
		data = append(data, buf[:n]...)
		if n > 0 && err == nil {
			continue
		}
		if err != nil && err != io.EOF {
			return dst, err
		}
		// At the end: rotated (new inode at the path) or truncated?
		fi, serr := os.Stat(t.path)
		if serr != nil {
			break // gone for now; keep the old handle
		}
		if inode(fi) != t.ino {
			t.close()
			if err := t.open(false); err != nil {
				break
			}
			continue
		}
		if fi.Size() < t.off {
			t.off = 0
			continue
		}
		break
	}
	cut := bytes.LastIndexByte(data, '\n') + 1
	if cut == 0 && len(data) >= maxPartial {
		cut = len(data)
	}
	t.partial = append(t.partial[:0], data[cut:]...)
	return append(dst, data[:cut]...), nil
}
