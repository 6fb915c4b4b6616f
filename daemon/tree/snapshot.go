package tree

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Snapshot file format, version 2 (all integers are unsigned varints unless
// said otherwise):
//
//	magic      8 bytes "CANOPYT\x00"
//	format     uint32 little-endian, = 1
//	meta       length, bytes (opaque to the tree: e.g. ingest offsets)
//	version    the tree's global version
//	epoch      the averaging window counter
//	sources    count, then per exactly-once source: name length, name, seq
//	nodes      count of nodes, then the root's children, each in preorder:
//	             name length, name, flags byte, action byte,
//	             [value: float64 little-endian bits]  if flags has value
//	             [samples in the current averaging window] if flags has 8
//	             [marker: length, bytes]              if flags has marker
//	             [unit: length, bytes]                if flags has unit (16)
//	             child count
//	crc        uint32 little-endian CRC-32C of everything above
//
// A file that is truncated, has a bad checksum or an unknown format version
// is refused whole.
const (
	snapMagic   = "CANOPYT\x00"
	snapFormat  = 2
	maxSnapName = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapFlagWindow marks a node whose averaging-window sample count follows
// its value in the file (never set in memory).
const snapFlagWindow uint8 = 8

// WriteSnapshot writes the tree and meta (opaque bytes, e.g. ingest offsets)
// to path atomically: a temp file in the same folder is written, fsynced and
// renamed over path, so a crash leaves either the old or the new snapshot.
func (t *Tree) WriteSnapshot(path string, meta []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return fmt.Errorf("cannot create snapshot in %q: %w", dir, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	h := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	t.mu.RLock()
	err = t.encode(w, meta)
	written := make(map[string]uint64, len(t.seqs))
	for k, v := range t.seqs {
		written[k] = v
	}
	t.mu.RUnlock()
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		var crc [4]byte
		binary.LittleEndian.PutUint32(crc[:], h.Sum32())
		_, err = f.Write(crc[:])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write snapshot %q: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot move snapshot into place at %q: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable
		d.Close()
	}
	t.mu.Lock()
	for k, v := range written {
		if v > t.durable[k] {
			t.durable[k] = v
		}
	}
	t.mu.Unlock()
	return nil
}

type snapWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
}

func (s *snapWriter) uvarint(v uint64) {
	n := binary.PutUvarint(s.buf[:], v)
	s.w.Write(s.buf[:n])
}

func (s *snapWriter) bytes(b string) {
	s.uvarint(uint64(len(b)))
	s.w.WriteString(b)
}

func (t *Tree) encode(w *bufio.Writer, meta []byte) error {
	s := &snapWriter{w: w}
	w.WriteString(snapMagic)
	var f [4]byte
	binary.LittleEndian.PutUint32(f[:], snapFormat)
	w.Write(f[:])
	s.bytes(string(meta))
	s.uvarint(t.version.Load())
	s.uvarint(uint64(t.epoch))
	s.uvarint(uint64(len(t.seqs)))
	for name, seq := range t.seqs {
		s.bytes(name)
		s.uvarint(seq)
	}
	s.uvarint(uint64(t.nodes))
	s.uvarint(uint64(len(t.root.kids)))
	for _, c := range t.root.kids {
		t.encodeNode(s, c)
	}
	return nil
}

func (t *Tree) encodeNode(s *snapWriter, n *node) {
	s.bytes(n.name)
	flags := n.flags
	window := n.flags&flagValue != 0 && n.epoch == t.epoch && n.n > 0
	if window {
		flags |= snapFlagWindow
	}
	s.w.WriteByte(flags)
	s.w.WriteByte(byte(n.act))
	if n.flags&flagValue != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(n.val))
		s.w.Write(b[:])
	}
	if window {
		// An average continues its window after a restart exactly.
		s.uvarint(uint64(n.n))
	}
	if n.flags&flagMarker != 0 {
		s.bytes(t.markers[n])
	}
	if n.flags&flagUnit != 0 {
		s.bytes(t.units[n])
	}
	s.uvarint(uint64(len(n.kids)))
	for _, c := range n.kids {
		t.encodeNode(s, c)
	}
}

// ErrCorruptSnapshot is wrapped by every error about a damaged snapshot.
var ErrCorruptSnapshot = errors.New("corrupt snapshot")

// LoadSnapshot reads a snapshot written by WriteSnapshot and returns the
// tree and its meta. A missing file is an error satisfying
// errors.Is(err, fs.ErrNotExist); a damaged one wraps ErrCorruptSnapshot.
func LoadSnapshot(path string) (*Tree, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read snapshot: %w", err)
	}
	t, meta, err := decodeSnapshot(data)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot %q: %w", path, err)
	}
	return t, meta, nil
}

func decodeSnapshot(data []byte) (*Tree, []byte, error) {
	if len(data) < len(snapMagic)+8 || string(data[:len(snapMagic)]) != snapMagic {
		return nil, nil, fmt.Errorf("%w: not a canopy snapshot (bad magic or too short)", ErrCorruptSnapshot)
	}
	body, tail := data[:len(data)-4], data[len(data)-4:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(tail) {
		return nil, nil, fmt.Errorf("%w: checksum mismatch (truncated or damaged file)", ErrCorruptSnapshot)
	}
	format := binary.LittleEndian.Uint32(body[len(snapMagic):])
	if format != snapFormat {
		return nil, nil, fmt.Errorf("%w: format version %d, this canopy reads %d", ErrCorruptSnapshot, format, snapFormat)
	}
	r := &snapReader{b: body[len(snapMagic)+4:]}
	meta := []byte(r.str())
	t := New()
	t.version.Store(r.uvarint())
	// Node versions are not stored: restored nodes count as changed at the
	// restored version, so "since" readers from before a restart see them.
	t.root.sub = t.version.Load()
	t.epoch = uint32(r.uvarint())
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		name := r.str()
		seq := r.uvarint()
		t.seqs[name], t.durable[name] = seq, seq
	}
	want := r.uvarint()
	kids := r.uvarint()
	for i := uint64(0); i < kids && r.err == nil; i++ {
		t.decodeNode(r, &t.root, 1)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes of trailing data", len(r.b))
	}
	if r.err == nil && uint64(t.nodes) != want {
		r.err = fmt.Errorf("holds %d nodes, header says %d", t.nodes, want)
	}
	if r.err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCorruptSnapshot, r.err)
	}
	return t, meta, nil
}

type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = io.ErrUnexpectedEOF
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *snapReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (t *Tree) decodeNode(r *snapReader, parent *node, depth int) {
	if depth > 10000 {
		r.err = fmt.Errorf("tree deeper than 10000 levels")
		return
	}
	name := r.str()
	flags, act := r.byte(), Action(r.byte())
	if r.err != nil {
		return
	}
	window := flags&snapFlagWindow != 0
	flags &^= snapFlagWindow
	if name == "" || act > ActionLast || flags&^(flagValue|flagMarker|flagAction|flagUnit) != 0 || window && flags&flagValue == 0 {
		r.err = fmt.Errorf("bad node %q (flags %#x, action %d)", name, flags, act)
		return
	}
	if _, dup := parent.kids[name]; dup {
		r.err = fmt.Errorf("duplicate node %q", name)
		return
	}
	v := t.root.sub
	n := &node{name: name, flags: flags, act: act, ver: v, sub: v}
	if flags&flagValue != 0 {
		if len(r.b) < 8 {
			r.err = io.ErrUnexpectedEOF
			return
		}
		n.val = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
		r.b = r.b[8:]
	}
	if window {
		n.n, n.epoch = uint32(r.uvarint()), t.epoch
	}
	if flags&flagMarker != 0 {
		t.markers[n] = r.str()
	}
	if flags&flagUnit != 0 {
		t.units[n] = r.str()
	}
	if parent.kids == nil {
		parent.kids = map[string]*node{}
	}
	parent.kids[name] = n
	t.nodes++
	kids := r.uvarint()
	if kids > uint64(len(r.b)) {
		r.err = fmt.Errorf("node %q claims %d children", name, kids)
		return
	}
	if kids > 0 {
		n.kids = make(map[string]*node, kids)
	}
	for i := uint64(0); i < kids && r.err == nil; i++ {
		t.decodeNode(r, n, depth+1)
	}
}
