// Command os is canopy's built-in operating-system pipe: hits per OS family
// and version (os,windows,10, os,ios,17, os,macos,10.15; os,linux,unknown
// when the agent names no version), crawlers under os,bot and agents with
// no known OS under os,other. The host classifies each user agent once
// (sdk/logformat).
package main

import (
	"strings"

	"github.com/canopy-dev/canopy/pipes-src/internal/hashtab"
	"github.com/canopy-dev/canopy/pipes-src/internal/tally"
	"github.com/canopy-dev/canopy/sdk/abi"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

// maxClasses bounds the distinct agent classes an instance remembers; past
// it the tables start over after a batch.
const maxClasses = 4096

type key struct{ os, version string }

// osPipe counts a batch per distinct agent class (the host dictionary-encodes
// the column and hashes each class: one table lookup per distinct class
// per batch) and emits per OS once per batch (pipe.Flusher): hashing
// strings or an Emit per line would cost far more in Go's WASM build.
type osPipe struct {
	tally   tally.Tally
	byClass hashtab.Table // hash of the agent class → index in keys
	byKey   map[key]int32
	keys    []key
	out     []pipe.Key // os,OS[,VERSION] of each key
	hits    []uint32
	used    []int32
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
	return nil
}

// ProcessBatch counts the batch per distinct agent class (the column is
// dictionary-encoded), then looks each class up once by its hash.
func (p *osPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	classes, hashes := b.Strings(pipe.FieldUAClass), b.Int64s(pipe.FieldUAClassHash)
	p.tally.Count(classes)
	for d, c := range p.tally.Counts {
		if c == 0 {
			continue
		}
		h := uint64(hashes[p.tally.First[d]])
		i, ok := p.byClass.Get(h)
		if !ok {
			i = p.learn(h, classes.Value(d))
		}
		if p.hits[i] == 0 {
			p.used = append(p.used, i)
		}
		p.hits[i] += c
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
		if k.version != "" {
			p.out = append(p.out, pipe.NewKey("os", k.os, k.version))
		} else {
			p.out = append(p.out, pipe.NewKey("os", k.os))
		}
		p.byKey[k] = i
	}
	p.byClass.Put(hash, i)
	return i
}

func (p *osPipe) Flush(out *pipe.Out) {
	for _, i := range p.used {
		out.EmitKey(&p.out[i], float64(p.hits[i]))
		p.hits[i] = 0
	}
	p.used = p.used[:0]
	if p.byClass.Len() > maxClasses {
		p.byClass.Clear()
		clear(p.byKey)
		p.keys, p.hits, p.out = p.keys[:0], p.hits[:0], p.out[:0]
	}
}

func init() { pipe.Register(&osPipe{}) }

func main() { pipe.Main() }
