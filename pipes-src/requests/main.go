// Command requests is canopy's built-in requests pipe (GoAccess's
// "requested files", "static requests" and "not found" panels, plus the
// method and protocol breakdown): hits per method and protocol, pages and
// static files (by a configurable extension list) apart, and the 404 paths.
// Each path list is a bounded top-N (pipes-src/internal/topn): the heavy
// hitters get their own key, the rest sum under _other.
package main

import (
	"strings"
	"unsafe"

	"github.com/canopy-dev/canopy/pipes-src/internal/strtab"
	"github.com/canopy-dev/canopy/pipes-src/internal/tally"
	"github.com/canopy-dev/canopy/pipes-src/internal/topn"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// DefaultStatic is the static-file extension list, matched
// case-insensitively at the end of the path: Debian's goaccess.conf list
// with today's web formats added (.webp, .avif, .map, .otf, .xml, .json …)
// and downloads that are not page assets left out (.exe, .iso, .dmg, .xz,
// .zst).
const DefaultStatic = ".css,.js,.jpg,.jpeg,.png,.gif,.ico,.svg,.webp,.avif,.bmp,.tif,.tiff," +
	".woff,.woff2,.ttf,.otf,.eot,.map,.mp3,.mp4,.ogg,.webm,.avi,.flv,.swf,.pdf,.txt,.xml,.csv,.json," +
	".zip,.gz,.tgz,.bz2,.rar,.7z,.tar,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.rtf,.mpeg,.mpg,.dae"

// maxSmall bounds the distinct methods and protocols an instance keys (junk
// request lines bring arbitrary ones); the rest count under _other.
const maxSmall = 32

type requestsPipe struct {
	exts [][]byte // lower-case, with the dot
	// extSet holds exts when each has only its leading dot (the default
	// list), so a path's extension is looked up once instead of compared
	// with each of ~50 (that loop was a third of the pipe's WASM time).
	extSet  *strtab.Map
	maxExt  int
	lowered []byte

	methods, protocols small
	static, pages, nf  *topn.Set
	nStatic, nPages    uint32
	nNF                uint32
	kStatic, kPages    pipe.Key
	kNF                pipe.Key

	tPath  tally.Tally
	nfHits []uint32 // per distinct path of the batch: 404 hits
}

// small counts a short list of strings (methods, protocols) exactly.
type small struct {
	root  string
	index map[string]int
	keys  []pipe.Key
	hits  []uint32
	other uint32
	kOth  pipe.Key
	t     tally.Tally
}

func newSmall(root string) small {
	return small{root: root, index: make(map[string]int), kOth: pipe.NewKey("req", root, topn.Other)}
}

func (s *small) count(col pipe.Strings) {
	s.t.Count(col)
	for d, c := range s.t.Counts {
		v := col.Value(d)
		if c == 0 || v == "" {
			continue
		}
		i, ok := s.index[v]
		if !ok {
			if len(s.keys) >= maxSmall {
				s.other += c
				continue
			}
			v = strings.Clone(v)
			i = len(s.keys)
			s.index[v] = i
			s.keys = append(s.keys, pipe.NewKey("req", s.root, v))
			s.hits = append(s.hits, 0)
		}
		s.hits[i] += c
	}
}

func (s *small) flush(out *pipe.Out) {
	for i, n := range s.hits {
		if n > 0 {
			out.EmitKey(&s.keys[i], float64(n))
			s.hits[i] = 0
		}
	}
	if s.other > 0 {
		out.EmitKey(&s.kOth, float64(s.other))
		s.other = 0
	}
}

func (*requestsPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "requests", Version: "1.0.0",
		Fields: []string{pipe.FieldMethod, pipe.FieldProtocol, pipe.FieldPath, pipe.FieldStatus},
		Roots:  []pipe.Root{{Path: []string{"req"}, Action: pipe.Add}},
	}
}

func (p *requestsPipe) Init(cfg pipe.Config) error {
	top, err := cfg.Int("top", 100)
	if err != nil {
		return err
	}
	maxKeys, err := cfg.Int("max_keys", 1000)
	if err != nil {
		return err
	}
	capacity, err := cfg.Int("capacity", 2000)
	if err != nil {
		return err
	}
	maxLen, err := cfg.Int("max_path_len", 256)
	if err != nil {
		return err
	}
	maxLen = min(max(maxLen, 1), wire.MaxSegmentBytes)
	for _, e := range strings.Split(cfg.String("static", DefaultStatic), ",") {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			if e[0] != '.' {
				e = "." + e
			}
			p.exts = append(p.exts, []byte(e))
		}
	}
	p.extSet = strtab.New(len(p.exts))
	for _, e := range p.exts {
		if strings.LastIndexByte(string(e), '.') != 0 {
			p.extSet = nil // a multi-dot extension (".tar.gz"): compare suffixes
			break
		}
		p.extSet.Set(string(e), 0)
		p.maxExt = max(p.maxExt, len(e))
	}
	p.methods, p.protocols = newSmall("method"), newSmall("protocol")
	p.static = topn.New(top, maxKeys, capacity, maxLen, []string{"req", "static"})
	p.pages = topn.New(top, maxKeys, capacity, maxLen, []string{"req", "page"})
	p.nf = topn.New(top, maxKeys, capacity, maxLen, []string{"req", "notfound"})
	p.kStatic, p.kPages, p.kNF = pipe.NewKey("req", "static"), pipe.NewKey("req", "page"), pipe.NewKey("req", "notfound")
	return nil
}

// isStatic reports whether path ends in one of the extensions.
func (p *requestsPipe) isStatic(path string) bool {
	if p.extSet != nil {
		// An extension with one dot is a suffix of path exactly when it is
		// path from its last dot on.
		i := strings.LastIndexByte(path, '.')
		if i < 0 || len(path)-i > p.maxExt {
			return false
		}
		p.lowered = p.lowered[:0]
		for _, c := range []byte(path[i:]) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			p.lowered = append(p.lowered, c)
		}
		_, ok := p.extSet.Get(unsafe.String(&p.lowered[0], len(p.lowered)))
		return ok
	}
	for _, e := range p.exts {
		if len(path) < len(e) {
			continue
		}
		tail := path[len(path)-len(e):]
		ok := true
		for i := range e {
			c := tail[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != e[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (p *requestsPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	p.methods.count(b.Strings(pipe.FieldMethod))
	p.protocols.count(b.Strings(pipe.FieldProtocol))
	paths, statuses := b.Strings(pipe.FieldPath), b.Int64s(pipe.FieldStatus)
	p.tPath.Count(paths)
	n := paths.Distinct()
	if cap(p.nfHits) < n {
		p.nfHits = make([]uint32, n)
	}
	p.nfHits = p.nfHits[:n]
	clear(p.nfHits)
	idx := paths.Indexes()
	for r, s := range statuses {
		if s == 404 {
			p.nfHits[idx[r]]++
		}
	}
	for d, c := range p.tPath.Counts {
		path := paths.Value(d)
		if c == 0 || path == "" { // no request line
			continue
		}
		nf := p.nfHits[d]
		if nf > 0 {
			p.nf.Add(path, float64(nf))
			p.nNF += nf
		}
		// GoAccess's panels split the lines: a 404 is "not found" only
		// (a missing static file too), the rest static or page by the path.
		if found := c - nf; found == 0 {
			continue
		} else if p.isStatic(path) {
			p.static.Add(path, float64(found))
			p.nStatic += found
		} else {
			p.pages.Add(path, float64(found))
			p.nPages += found
		}
	}
}

func (p *requestsPipe) Flush(out *pipe.Out) {
	p.methods.flush(out)
	p.protocols.flush(out)
	p.static.Flush(out)
	p.pages.Flush(out)
	p.nf.Flush(out)
	for _, c := range []struct {
		k *pipe.Key
		n *uint32
	}{{&p.kStatic, &p.nStatic}, {&p.kPages, &p.nPages}, {&p.kNF, &p.nNF}} {
		if *c.n > 0 {
			out.EmitKey(c.k, float64(*c.n))
			*c.n = 0
		}
	}
}

func init() { pipe.Register(&requestsPipe{}) }

func main() { pipe.Main() }
