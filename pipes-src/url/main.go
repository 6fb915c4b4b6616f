// Command url is canopy's built-in URL pipe: hits per request path, the
// query stripped (url,/docs/install); requests without a request line
// count under url,-. A URL scan must not blow up memory, so each instance
// keeps at most max_paths distinct paths (the first ones seen, which on a
// real site are the popular ones) and counts the rest under url,_other;
// paths longer than max_path_len bytes are cut.
package main

import (
	"strings"

	"github.com/canopy-dev/canopy/pipes-src/internal/hashtab"
	"github.com/canopy-dev/canopy/pipes-src/internal/tally"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// urlPipe counts a batch in its path table and emits it once
// (pipe.Flusher). A line costs one integer map lookup: the host sends the
// path's hash along, because hashing the string in Go's WASM build costs
// several times more (and an Emit per line more still).
type urlPipe struct {
	maxPaths int
	maxLen   int
	tally    tally.Tally
	byHash   hashtab.Table    // path hash → index in keys, -1 for _other
	byKey    map[string]int32 // path (cut) → index in keys; at most maxPaths
	keys     []pipe.Key       // url,<path> of each kept path
	hits     []uint32
	used     []int32
	other    uint32 // hits past the cap
	noPath   uint32 // hits without a request line
	path     []string
}

func (*urlPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "url", Version: "1.0.0",
		Fields: []string{pipeabi.FieldPathHash, pipe.FieldPath},
		Roots:  []pipe.Root{{Path: []string{"url"}, Action: pipe.Add}},
	}
}

func (p *urlPipe) Init(cfg pipe.Config) error {
	var err error
	if p.maxPaths, err = cfg.Int("max_paths", 2000); err != nil {
		return err
	}
	if p.maxLen, err = cfg.Int("max_path_len", 256); err != nil {
		return err
	}
	p.maxLen = min(max(p.maxLen, 1), wire.MaxSegmentBytes) // a longer segment is malformed output
	p.byKey = make(map[string]int32)
	p.path = make([]string, 0, 2)
	return nil
}

// ProcessBatch counts the batch per distinct path (the column is
// dictionary-encoded), then looks each distinct path up once by its hash.
func (p *urlPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	paths, hashes := b.Strings(pipe.FieldPath), b.Int64s(pipe.FieldPathHash)
	p.tally.Count(paths)
	for d, c := range p.tally.Counts {
		if c == 0 {
			continue
		}
		path := paths.Value(d)
		if path == "" { // no request line (a 408, a 400 for junk)
			p.noPath += c
			continue
		}
		h := uint64(hashes[p.tally.First[d]])
		i, ok := p.byHash.Get(h)
		if !ok {
			i = p.learn(h, path)
		}
		if i < 0 {
			p.other += c
			continue
		}
		if p.hits[i] == 0 {
			p.used = append(p.used, i)
		}
		p.hits[i] += c
	}
}

// maxHashes bounds the hash table (about 13 bytes a slot, under 2 MiB):
// past it, new hashes of a URL scan are looked up by string every time.
const maxHashes = 1 << 16

// learn maps a path hash seen for the first time to its key, or to -1 once
// the instance keeps maxPaths paths.
func (p *urlPipe) learn(hash uint64, path string) int32 {
	if len(path) > p.maxLen {
		path = path[:p.maxLen]
	}
	i, ok := p.byKey[path]
	switch {
	case ok:
	case len(p.keys) >= p.maxPaths:
		i = -1
	default:
		path = strings.Clone(path) // the record's strings die with the call
		i = int32(len(p.keys))
		p.keys = append(p.keys, pipe.NewKey("url", path))
		p.hits = append(p.hits, 0)
		p.byKey[path] = i
	}
	if p.byHash.Len() < max(maxHashes, 4*p.maxPaths) {
		p.byHash.Put(hash, i)
	}
	return i
}

func (p *urlPipe) Flush(out *pipe.Out) {
	for _, i := range p.used {
		out.EmitKey(&p.keys[i], float64(p.hits[i]))
		p.hits[i] = 0
	}
	p.used = p.used[:0]
	if p.other > 0 {
		out.Emit(float64(p.other), append(p.path[:0], "url", "_other")...)
		p.other = 0
	}
	if p.noPath > 0 {
		out.Emit(float64(p.noPath), append(p.path[:0], "url", "-")...)
		p.noPath = 0
	}
}

func init() { pipe.Register(&urlPipe{}) }

func main() { pipe.Main() }
