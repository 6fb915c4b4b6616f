// Command browser is canopy's built-in browser pipe: hits per browser family
// and major version (br,chrome,120), vendor shells on top of their engine (a
// Sogou MetaSr IE 7 hit counts under br,ie,7 and br,ie,7,venders,sogou),
// crawlers (br,bot,googlebot) and the rest (br,other). The host classifies
// each user agent once (sdk/logformat); this pipe only counts the pieces.
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

type key struct{ browser, major, vendor, bot string }

// browser counts a batch per distinct agent class (the host dictionary-encodes
// the column and hashes each class: one table lookup per distinct class
// per batch) and emits per browser once per batch (pipe.Flusher): hashing
// strings or an Emit per line would cost far more in Go's WASM build.
type browser struct {
	tally   tally.Tally
	byClass hashtab.Table // hash of the agent class → index in keys
	byKey   map[key]int32
	keys    []key
	out     [][2]pipe.Key // the paths each key emits: br,… and its vender path
	hits    []uint32
	used    []int32 // key indexes hit in this batch
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
	return nil
}

// ProcessBatch counts the batch per distinct agent class (the column is
// dictionary-encoded), then looks each class up once by its hash.
func (p *browser) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
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
		p.out = append(p.out, outKeys(k))
		p.byKey[k] = i
	}
	p.byClass.Put(hash, i)
	return i
}

// outKeys returns the paths a key emits: br,bot,NAME; br,other; or
// br,FAMILY,MAJOR and, for a vendor shell, br,FAMILY,MAJOR,venders,VENDOR.
func outKeys(k key) (ks [2]pipe.Key) {
	switch {
	case k.bot != "":
		ks[0] = pipe.NewKey("br", "bot", k.bot)
	case k.browser == "other":
		ks[0] = pipe.NewKey("br", "other")
	default:
		ks[0] = pipe.NewKey("br", k.browser, k.major)
		if k.vendor != "" {
			// "venders" is the seed's spelling; kept so its queries work.
			ks[1] = pipe.NewKey("br", k.browser, k.major, "venders", k.vendor)
		}
	}
	return ks
}

func (p *browser) Flush(out *pipe.Out) {
	for _, i := range p.used {
		n := float64(p.hits[i])
		p.hits[i] = 0
		out.EmitKey(&p.out[i][0], n)
		if p.keys[i].vendor != "" && p.keys[i].bot == "" && p.keys[i].browser != "other" {
			out.EmitKey(&p.out[i][1], n)
		}
	}
	p.used = p.used[:0]
	if p.byClass.Len() > maxClasses {
		p.byClass.Clear()
		clear(p.byKey)
		p.keys, p.hits, p.out = p.keys[:0], p.hits[:0], p.out[:0]
	}
}

func init() { pipe.Register(&browser{}) }

func main() { pipe.Main() }
