// Command os is canopy's built-in operating-system pipe: hits per OS family
// and version (os,windows,10, os,ios,17, os,macos,10.15; os,linux,unknown
// when the agent names no version), crawlers under os,bot and agents with
// no known OS under os,other. The host classifies each user agent once
// (sdk/logformat).
package main

import (
	"strings"

	"github.com/canopy-dev/canopy/pipes-src/internal/hashtab"
	"github.com/canopy-dev/canopy/sdk/abi"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

// maxClasses bounds the distinct agent classes an instance remembers; past
// it the tables start over after a batch.
const maxClasses = 4096

type key struct{ os, version string }

// osPipe counts a batch by the host's agent class (the host hashes it: one
// integer map lookup per line) and emits per OS once per batch (pipe.Flusher):
// hashing several strings or an Emit per line would cost far more in Go's
// WASM build.
type osPipe struct {
	byClass hashtab.Table // hash of the agent class → index in keys
	byKey   map[key]int32
	keys    []key
	hits    []uint32
	used    []int32
	path    []string
}

func (*osPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "os", Version: "1.0.0",
		Fields: []string{abi.FieldUAClassHash, abi.FieldUAClass},
		Roots:  []pipe.Root{{Path: []string{"os"}, Action: pipe.Add}},
	}
}

func (p *osPipe) Init(pipe.Config) error {
	p.byKey = make(map[key]int32)
	p.path = make([]string, 0, 3)
	return nil
}

func (p *osPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	classes := b.Strings(pipe.FieldUAClass)
	for r, h := range b.Int64s(pipe.FieldUAClassHash) {
		i, ok := p.byClass.Get(uint64(h))
		if !ok {
			i = p.learn(uint64(h), classes.At(r))
		}
		if p.hits[i] == 0 {
			p.used = append(p.used, i)
		}
		p.hits[i]++
	}
}

// learn maps a class seen for the first time to its key.
func (p *osPipe) learn(hash uint64, class string) int32 {
	class = strings.Clone(class) // the record's strings die with the call
	// browser|major|os|version|vendor|bot
	f := strings.Split(class, "|")
	var k key
	switch {
	case len(f) == 6 && f[5] != "":
		// A crawler's OS token is a disguise (Googlebot claims Android).
		k.os = "bot"
	case len(f) != 6 || f[2] == "":
		k.os = "other"
	default:
		k.os, k.version = f[2], f[3]
		if k.version == "" || len(k.version) > 8 {
			k.version = "unknown"
		}
	}
	i, ok := p.byKey[k]
	if !ok {
		i = int32(len(p.keys))
		p.keys = append(p.keys, k)
		p.hits = append(p.hits, 0)
		p.byKey[k] = i
	}
	p.byClass.Put(hash, i)
	return i
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
	if p.byClass.Len() > maxClasses {
		p.byClass.Clear()
		clear(p.byKey)
		p.keys, p.hits = p.keys[:0], p.hits[:0]
	}
}

func init() { pipe.Register(&osPipe{}) }

func main() { pipe.Main() }
