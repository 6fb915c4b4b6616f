// Command browser is canopy's built-in browser pipe: hits per browser family
// and major version (br,chrome,120), vendor shells on top of their engine (a
// Sogou MetaSr IE 7 hit counts under br,ie,7 and br,ie,7,venders,sogou),
// crawlers (br,bot,googlebot) and the rest (br,other). The host classifies
// each user agent once (sdk/logformat); this pipe only counts the pieces.
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

type key struct{ browser, major, vendor, bot string }

// browser counts a batch by the host's agent class (the host hashes it:
// one integer map lookup per line) and emits per browser once per batch
// (pipe.Flusher): hashing several strings or an Emit per line would cost
// far more in Go's WASM build.
type browser struct {
	byClass hashtab.Table // hash of the agent class → index in keys
	byKey   map[key]int32
	keys    []key
	hits    []uint32
	used    []int32 // key indexes hit in this batch
	path    []string
}

func (*browser) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "browser", Version: "1.0.0",
		Fields: []string{abi.FieldUAClassHash, abi.FieldUAClass},
		Roots:  []pipe.Root{{Path: []string{"br"}, Action: pipe.Add}},
	}
}

func (p *browser) Init(pipe.Config) error {
	p.byKey = make(map[key]int32)
	p.path = make([]string, 0, 6)
	return nil
}

func (p *browser) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
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
func (p *browser) learn(hash uint64, class string) int32 {
	class = strings.Clone(class) // the record's strings die with the call
	// browser|major|os|version|vendor|bot
	f := strings.Split(class, "|")
	var k key
	switch {
	case len(f) == 6 && f[5] != "":
		k.bot = f[5]
	case len(f) != 6 || f[0] == "" || f[0] == "other":
		k.browser = "other"
	default:
		k.browser, k.major, k.vendor = f[0], f[1], f[4]
		if k.major == "" || len(k.major) > 3 { // no browser is at version 1000 yet: a forged agent
			k.major = "unknown"
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

func (p *browser) Flush(out *pipe.Out) {
	for _, i := range p.used {
		k, n := &p.keys[i], float64(p.hits[i])
		p.hits[i] = 0
		path := append(p.path[:0], "br")
		switch {
		case k.bot != "":
			out.Emit(n, append(path, "bot", k.bot)...)
		case k.browser == "other":
			out.Emit(n, append(path, "other")...)
		default:
			path = append(path, k.browser, k.major)
			out.Emit(n, path...)
			if k.vendor != "" {
				// "venders" is the seed's spelling; kept so its queries work.
				out.Emit(n, append(path, "venders", k.vendor)...)
			}
		}
	}
	p.used = p.used[:0]
	if p.byClass.Len() > maxClasses {
		p.byClass.Clear()
		clear(p.byKey)
		p.keys, p.hits = p.keys[:0], p.hits[:0]
	}
}

func init() { pipe.Register(&browser{}) }

func main() { pipe.Main() }
