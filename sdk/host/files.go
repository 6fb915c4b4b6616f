package host

import (
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"
)

// FileGrant grants the guest read access to one host file, seen at
// GuestPath (absolute, slash-separated). Nothing else of the file's
// directory is visible: not its siblings, not even their names.
type FileGrant struct {
	HostFile  string
	GuestPath string
}

// filesFS is a read-only fs.FS holding only the granted files of one guest
// directory; its root lists just those names.
type filesFS struct {
	host map[string]string // base name in the guest directory -> host file
}

func (f *filesFS) Open(name string) (fs.File, error) {
	if name == "." {
		return &grantDir{f: f}, nil
	}
	hp, ok := f.host[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	// Opened on each guest open, so permissions and replacements of the
	// file are the host's at that moment.
	return os.Open(hp)
}

// grantDir is filesFS's root directory.
type grantDir struct {
	f    *filesFS
	read bool
}

func (d *grantDir) Stat() (fs.FileInfo, error) { return dirInfo{}, nil }
func (d *grantDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: fs.ErrInvalid}
}
func (d *grantDir) Close() error { return nil }

func (d *grantDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.read {
		if n > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	d.read = true
	var out []fs.DirEntry
	for name, hp := range d.f.host {
		fi, err := os.Stat(hp)
		if err != nil {
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(namedInfo{fi, name}))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int {
		if a.Name() < b.Name() {
			return -1
		}
		return 1
	})
	return out, nil
}

type dirInfo struct{}

func (dirInfo) Name() string       { return "." }
func (dirInfo) Size() int64        { return 0 }
func (dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (dirInfo) ModTime() time.Time { return time.Time{} }
func (dirInfo) IsDir() bool        { return true }
func (dirInfo) Sys() any           { return nil }

type namedInfo struct {
	fs.FileInfo
	name string
}

func (n namedInfo) Name() string { return n.name }

// fileMounts groups file grants by guest directory: one filesFS each.
func fileMounts(gs []FileGrant) map[string]*filesFS {
	out := map[string]*filesFS{}
	for _, g := range gs {
		dir, base := path.Split(path.Clean(filepath.ToSlash(g.GuestPath)))
		dir = path.Clean(dir)
		m := out[dir]
		if m == nil {
			m = &filesFS{host: map[string]string{}}
			out[dir] = m
		}
		m.host[base] = g.HostFile
	}
	return out
}
