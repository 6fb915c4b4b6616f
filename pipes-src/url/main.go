// Command url is canopy's built-in URL pipe: hits per request path, the
// query stripped (url,/docs/install); requests without a request line
// count under url,-. A URL scan must not blow up memory, so each instance
// keeps at most max_paths distinct paths (the first ones seen, which on a
// real site are the popular ones) and counts the rest under url,_other;
// paths longer than max_path_len bytes are cut.
package main

import (
	"github.com/canopy-dev/canopy/sdk/pipe"
)

// urlPipe counts a batch in its path table and emits it once
// (pipe.Flusher): one map lookup per line instead of an Emit, which costs
// more in Go's WASM build.
type urlPipe struct {
	maxPaths int
	maxLen   int
	idx      map[string]int32 // path → index in keys/hits; at most maxPaths
	keys     []string
	hits     []uint32
	used     []int32
	other    uint32 // hits past the cap
	noPath   uint32 // hits without a request line
	path     []string
}

func (*urlPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "url", Version: "1.0.0",
		Fields: []string{pipe.FieldPath},
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
	p.maxLen = max(p.maxLen, 1)
	p.idx = make(map[string]int32)
	p.path = make([]string, 0, 2)
	return nil
}

func (p *urlPipe) Process(r *pipe.Record, out *pipe.Out) {
	path := r.Path
	switch {
	case path == "": // no request line (a 408, a 400 for junk)
		p.noPath++
		return
	case len(path) > p.maxLen:
		path = path[:p.maxLen]
	}
	i, ok := p.idx[path]
	if !ok {
		if len(p.keys) >= p.maxPaths {
			p.other++
			return
		}
		path = string([]byte(path)) // copy: r's strings die with the call
		i = int32(len(p.keys))
		p.keys = append(p.keys, path)
		p.hits = append(p.hits, 0)
		p.idx[path] = i
	}
	if p.hits[i] == 0 {
		p.used = append(p.used, i)
	}
	p.hits[i]++
}

func (p *urlPipe) Flush(out *pipe.Out) {
	for _, i := range p.used {
		out.Emit(float64(p.hits[i]), append(p.path[:0], "url", p.keys[i])...)
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
