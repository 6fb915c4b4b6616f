package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// Caching the rewritten module.
//
// instrument (interrupt.go) walks every instruction of a module: ≈13 ms of
// CPU for a 3 MB Go pipe, a quarter of a warm start, redone at every start
// for the same bytes. With a disk cache the engine keeps its output beside
// wazero's compiled code, in one file per input: the input's SHA-256 and
// rewriteVersion name it. An entry is used only when its header repeats
// the version, the input's hash and the payload's length, and the
// payload's CRC-32C matches; anything else (a missing, torn, corrupt or
// renamed file, another version) is rewritten from the input and the
// entry replaced. Writing is best effort: an unwritable cache costs the
// rewrite, never the module.
//
// The entries are as trusted as wazero's own, which hold machine code run
// as is: whoever can write either folder changes what a guest runs, so the
// checksum is there for accidents, not for an attacker. wazero still
// decodes and validates the bytes, as it does the rewrite's.

// rewriteDir is the cache's folder inside the engine's cache folder.
const rewriteDir = "canopy-rewrite"

// rewriteMagic starts every entry.
const rewriteMagic = "canopyrw"

// An entry is rewriteMagic, then little-endian version (4 bytes), payload
// length (8), payload CRC-32C (4) and the input's SHA-256 (32), then the
// payload.
const rewriteHeaderLen = len(rewriteMagic) + 4 + 8 + 4 + sha256.Size

// rewriteCache keeps instrument's output in dir ("" keeps nothing).
type rewriteCache struct {
	dir string
}

// crc32c is the CRC-32C table (hardware-assisted on amd64 and arm64).
func crc32c() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// rewrite returns instrument(wasm), read from the cache when it holds a
// sound entry for these bytes.
func (c rewriteCache) rewrite(wasm []byte) ([]byte, error) {
	if c.dir == "" {
		return instrument(wasm)
	}
	sum := sha256.Sum256(wasm)
	path := c.path(sum)
	if b, err := os.ReadFile(path); err == nil {
		if out, ok := parseRewrite(b, sum); ok {
			return out, nil
		}
	}
	out, err := instrument(wasm)
	if err != nil {
		return nil, err
	}
	c.store(path, sum, out) // best effort (see the top of this file)
	return out, nil
}

func (c rewriteCache) path(sum [sha256.Size]byte) string {
	return filepath.Join(c.dir, fmt.Sprintf("%x-v%d", sum, rewriteVersion))
}

// parseRewrite returns the payload of entry b when it is sound for an
// input of hash sum.
func parseRewrite(b []byte, sum [sha256.Size]byte) ([]byte, bool) {
	if len(b) < rewriteHeaderLen || string(b[:len(rewriteMagic)]) != rewriteMagic {
		return nil, false
	}
	h := b[len(rewriteMagic):rewriteHeaderLen]
	version := binary.LittleEndian.Uint32(h)
	n := binary.LittleEndian.Uint64(h[4:])
	crc := binary.LittleEndian.Uint32(h[12:])
	payload := b[rewriteHeaderLen:]
	if version != rewriteVersion || n != uint64(len(payload)) || !bytes.Equal(h[16:], sum[:]) {
		return nil, false
	}
	if crc32.Checksum(payload, crc32c()) != crc {
		return nil, false
	}
	return payload, true
}

// appendRewriteHeader appends the header of an entry holding payload for an
// input of hash sum.
func appendRewriteHeader(b []byte, sum [sha256.Size]byte, payload []byte) []byte {
	b = append(b, rewriteMagic...)
	b = binary.LittleEndian.AppendUint32(b, rewriteVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, crc32c()))
	return append(b, sum[:]...)
}

// store writes the entry at path through a temporary file renamed into
// place, so a reader sees a whole entry or none. It is not synced: a
// crash may leave a torn entry, which the checks refuse.
func (c rewriteCache) store(path string, sum [sha256.Size]byte, payload []byte) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(appendRewriteHeader(make([]byte, 0, rewriteHeaderLen), sum, payload))
	if err == nil {
		_, err = f.Write(payload)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cannot write rewrite cache entry %q: %w", path, err)
	}
	return nil
}
