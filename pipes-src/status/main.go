// Command status is canopy's built-in status pipe: good lines (requests),
// hits per status code (status,200), error classes (errors,4xx,
// errors,5xx) and, for server errors, the failing path (errors,502,/api).
// The per-path keys are capped so a failing scan cannot grow the tree
// without bound: past max_paths distinct paths an instance counts new ones
// under errors,<code>,_other; paths are cut at max_path_len bytes.
package main

import (
	"strconv"

	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// statusPipe counts a batch in arrays and emits it once (pipe.Flusher), so
// a line costs a few increments instead of two or three Emits (which cost
// more in Go's WASM build). Server errors, rare, are emitted as they come.
type statusPipe struct {
	maxPaths int
	maxLen   int
	paths    map[string]struct{}

	codes    [1000]string   // "100".."999"
	keys     [1000]pipe.Key // status,<code>
	hits     [1000]uint32
	used     []int
	requests uint32
	err4xx   uint32
	err5xx   uint32

	pRequests, p4xx, p5xx pipe.Key
	path                  []string
}

func (*statusPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "status", Version: "1.0.0",
		Fields: []string{pipe.FieldStatus, pipe.FieldPath},
		Roots: []pipe.Root{
			{Path: []string{"requests"}, Action: pipe.Add},
			{Path: []string{"status"}, Action: pipe.Add},
			{Path: []string{"errors"}, Action: pipe.Add},
		},
	}
}

func (p *statusPipe) Init(cfg pipe.Config) error {
	var err error
	if p.maxPaths, err = cfg.Int("max_paths", 1000); err != nil {
		return err
	}
	if p.maxLen, err = cfg.Int("max_path_len", 256); err != nil {
		return err
	}
	p.maxLen = min(max(p.maxLen, 1), wire.MaxSegmentBytes) // a longer segment is malformed output
	for i := 100; i < len(p.codes); i++ {
		p.codes[i] = strconv.Itoa(i)
		p.keys[i] = pipe.NewKey("status", p.codes[i])
	}
	p.paths = make(map[string]struct{})
	p.pRequests = pipe.NewKey("requests")
	p.p4xx, p.p5xx = pipe.NewKey("errors", "4xx"), pipe.NewKey("errors", "5xx")
	p.path = make([]string, 0, 3)
	return nil
}

func (p *statusPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	statuses, paths := b.Int64s(pipe.FieldStatus), b.Strings(pipe.FieldPath)
	p.requests += uint32(len(statuses))
	for r, v := range statuses {
		if v < 100 || v > 999 {
			continue
		}
		s := int(v)
		if p.hits[s] == 0 {
			p.used = append(p.used, s)
		}
		p.hits[s]++
		switch s / 100 {
		case 4:
			p.err4xx++
		case 5:
			p.err5xx++
			out.Emit(1, append(p.path[:0], "errors", p.codes[s], p.pathKey(paths.At(r)))...)
		}
	}
}

func (p *statusPipe) Flush(out *pipe.Out) {
	if p.requests > 0 {
		out.EmitKey(&p.pRequests, float64(p.requests))
	}
	for _, s := range p.used {
		out.EmitKey(&p.keys[s], float64(p.hits[s]))
		p.hits[s] = 0
	}
	if p.err4xx > 0 {
		out.EmitKey(&p.p4xx, float64(p.err4xx))
	}
	if p.err5xx > 0 {
		out.EmitKey(&p.p5xx, float64(p.err5xx))
	}
	p.used = p.used[:0]
	p.requests, p.err4xx, p.err5xx = 0, 0, 0
}

// pathKey returns the segment for path: the path itself (cut) while the
// instance has seen fewer than maxPaths distinct ones, else "_other".
func (p *statusPipe) pathKey(path string) string {
	switch {
	case path == "":
		return "-"
	case len(path) > p.maxLen:
		path = path[:p.maxLen]
	}
	if _, ok := p.paths[path]; ok {
		return path
	}
	if len(p.paths) >= p.maxPaths {
		return "_other"
	}
	p.paths[string([]byte(path))] = struct{}{} // copy: r's strings die with the call
	return path
}

func init() { pipe.Register(&statusPipe{}) }

func main() { pipe.Main() }
