// Command os is canopy's built-in operating-system pipe: hits per OS family
// and version (os,windows,10, os,ios,17, os,macos,10_15; os,linux,unknown
// when the agent names no version), crawlers under os,bot and agents with
// no known OS under os,other. The host classifies each user agent once
// (sdk/logformat).
package main

import (
	"github.com/canopy-dev/canopy/sdk/abi"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

// maxKeys bounds the distinct (family, version) keys an instance remembers;
// past it the table starts over after a batch.
const maxKeys = 4096

type key struct{ os, version string }

// osPipe counts a batch in a small table and emits it once (pipe.Flusher):
// a map lookup per line instead of an Emit, which costs more in Go's WASM
// build.
type osPipe struct {
	idx  map[key]int32
	keys []key
	hits []uint32
	used []int32
	path []string
}

func (*osPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "os", Version: "1.0.0",
		Fields: []string{abi.FieldUAOS, abi.FieldUAOSVersion, abi.FieldUABot},
		Roots:  []pipe.Root{{Path: []string{"os"}, Action: pipe.Add}},
	}
}

func (p *osPipe) Init(pipe.Config) error {
	p.idx = make(map[key]int32)
	p.path = make([]string, 0, 3)
	return nil
}

func (p *osPipe) Process(r *pipe.Record, out *pipe.Out) {
	a := &r.Agent
	var k key
	switch {
	case a.Bot != "":
		// A crawler's OS token is a disguise (Googlebot claims Android).
		k.os = "bot"
	case a.OS == "":
		k.os = "other"
	default:
		k.os, k.version = a.OS, a.OSVersion
		if k.version == "" || len(k.version) > 8 {
			k.version = "unknown"
		}
	}
	i, ok := p.idx[k]
	if !ok {
		// The record's strings die with the call: keep copies.
		k = key{string([]byte(k.os)), string([]byte(k.version))}
		i = int32(len(p.keys))
		p.keys = append(p.keys, k)
		p.hits = append(p.hits, 0)
		p.idx[k] = i
	}
	if p.hits[i] == 0 {
		p.used = append(p.used, i)
	}
	p.hits[i]++
}

func (p *osPipe) Flush(out *pipe.Out) {
	for _, i := range p.used {
		k := &p.keys[i]
		path := append(p.path[:0], "os", k.os)
		if k.version != "" {
			path = append(path, k.version)
		}
		out.Emit(float64(p.hits[i]), path...)
		p.hits[i] = 0
	}
	p.used = p.used[:0]
	if len(p.keys) > maxKeys {
		clear(p.idx)
		p.keys, p.hits = p.keys[:0], p.hits[:0]
	}
}

func init() { pipe.Register(&osPipe{}) }

func main() { pipe.Main() }
