package ingest

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

const checkpointVersion = 1

// checkpoint is the meta stored in the tree snapshot.
type checkpoint struct {
	Version int `json:"version"`
	// Files maps a followed path to the files being read for it: renamed or
	// copied files still being finished first, the live file last.
	Files map[string][]fileState `json:"files"`
}

// fileState identifies a file by inode and head fingerprint (names change
// under rotation) and says how far it was applied.
type fileState struct {
	Name   string      `json:"name"`
	ID     fileID      `json:"id"`
	FP     fingerprint `json:"fp"`
	Offset int64       `json:"offset"`
	Live   bool        `json:"live,omitempty"`
}

// fileID is a file's device and inode.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	}
	return fileID{}
}

func nlinkOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// fpMax is how much of a file's head the fingerprint covers: enough that
// two logs (whose first line holds a timestamp and address) never collide.
const fpMax = 1024

// fingerprint is a hash of a file's first N bytes. A file shorter than
// fpMax gets a fingerprint over what it has, widened as it grows.
type fingerprint struct {
	N   int    `json:"n"`
	Sum uint64 `json:"sum"`
}

// readFingerprint hashes the first min(size, fpMax) bytes of f.
func readFingerprint(f *os.File) (fingerprint, error) {
	buf := make([]byte, fpMax)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return fingerprint{}, err
	}
	return fingerprint{N: n, Sum: sum(buf[:n])}, nil
}

// matches reports whether f starts with the bytes fp was taken over.
func (fp fingerprint) matches(f *os.File) bool {
	if fp.N == 0 {
		return true
	}
	buf := make([]byte, fp.N)
	n, err := f.ReadAt(buf, 0)
	if n < fp.N || err != nil && err != io.EOF {
		return false
	}
	return sum(buf) == fp.Sum
}

func sum(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

func (in *Ingester) checkpointLocked() []byte {
	cp := checkpoint{Version: checkpointVersion, Files: map[string][]fileState{}}
	// Keep what was restored for paths not (yet) followed, so a source that
	// is briefly missing does not forget its offsets.
	for p, st := range in.saved {
		cp.Files[p] = st
	}
	in.mu.Lock()
	for p, fl := range in.followers {
		var st []fileState
		for _, of := range fl.files() {
			st = append(st, fileState{Name: of.name, ID: of.id, FP: of.fpApplied, Offset: of.applied, Live: of == fl.cur})
		}
		if st == nil && fl.restored {
			continue // nothing open yet: keep the saved state
		}
		cp.Files[p] = st
	}
	in.mu.Unlock()
	b, _ := json.Marshal(cp)
	return b
}

var (
	rotatedSuffix = regexp.MustCompile(`(\.\d+|[-_.]\d{8,10}(\.\w+)?|\.(gz|bz2|xz|zst|lz4|old|bak))$`)
)

// looksRotated reports whether a file name is a rotated copy by logrotate's
// naming (numbered, dated, compressed).
func looksRotated(base string) bool { return rotatedSuffix.MatchString(base) }

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// siblings lists candidate rotated copies of path: regular files in its
// folder whose name starts with the live file's name without extension
// (access.log.1, access.log-20240101, access-20240101.log).
func siblings(path string) []string {
	dir, base := filepath.Split(path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	ents, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if n == base || !e.Type().IsRegular() || !strings.HasPrefix(n, stem) {
			continue
		}
		if strings.HasSuffix(n, ".gz") || strings.HasSuffix(n, ".bz2") || strings.HasSuffix(n, ".xz") || strings.HasSuffix(n, ".zst") {
			continue // compressed copies cannot be resumed by offset
		}
		out = append(out, filepath.Join(dir, n))
	}
	return out
}

// findFile looks for the file st describes among path and its siblings:
// the same inode and head first, then (for a copytruncate's copy) the same
// head alone when sameInode is false. It returns an open file or nil.
func findFile(path string, st fileState, sameInode bool, exclude func(fileID) bool) (*os.File, os.FileInfo) {
	cands := append([]string{path}, siblings(path)...)
	if st.Name != "" && st.Name != path && !contains(cands, st.Name) {
		cands = append(cands, st.Name)
	}
	var best *os.File
	var bestFI os.FileInfo
	for _, c := range cands {
		f, err := os.Open(c)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() || fi.Size() < st.Offset {
			f.Close()
			continue
		}
		id := idOf(fi)
		if exclude != nil && exclude(id) || sameInode && id != st.ID || !st.FP.matches(f) {
			f.Close()
			continue
		}
		// Several copies with the same head: take the longest.
		if best == nil || fi.Size() > bestFI.Size() {
			if best != nil {
				best.Close()
			}
			best, bestFI = f, fi
			continue
		}
		f.Close()
	}
	return best, bestFI
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// trimLine drops a trailing "\n" and "\r".
func trimLine(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}
