// Command browser is canopy's built-in browser pipe: hits per browser family
// and major version (br,chrome,120), vendor shells on top of their engine (a
// Sogou MetaSr IE 7 hit counts under br,ie,7 and br,ie,7,venders,sogou),
// crawlers (br,bot,googlebot) and the rest (br,other). The host classifies
// each user agent once (sdk/logformat); this pipe only counts the pieces.
package main

import (
	"github.com/canopy-dev/canopy/sdk/abi"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

// maxKeys bounds the distinct (family, major, vendor) keys an instance
// remembers; past it the table starts over after a batch.
const maxKeys = 4096

type key struct{ browser, major, vendor, bot string }

// browser counts a batch in a small table and emits it once (pipe.Flusher):
// a map lookup per line instead of one or two Emits, which cost more in
// Go's WASM build.
type browser struct {
	idx  map[key]int32
	keys []key
	hits []uint32
	used []int32 // indexes hit in this batch
	path []string
}

func (*browser) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "browser", Version: "1.0.0",
		Fields: []string{abi.FieldUABrowser, abi.FieldUABrowserMajor, abi.FieldUAVendor, abi.FieldUABot},
		Roots:  []pipe.Root{{Path: []string{"br"}, Action: pipe.Add}},
	}
}

func (p *browser) Init(pipe.Config) error {
	p.idx = make(map[key]int32)
	p.path = make([]string, 0, 6)
	return nil
}

func (p *browser) Process(r *pipe.Record, out *pipe.Out) {
	a := &r.Agent
	k := key{bot: a.Bot}
	if a.Bot == "" {
		k.browser = a.Browser
		if k.browser == "" {
			k.browser = "other"
		}
		if k.browser != "other" {
			k.major, k.vendor = a.BrowserMajor, a.Vendor
			if k.major == "" || len(k.major) > 3 { // no browser is at version 1000 yet: a forged agent
				k.major = "unknown"
			}
		}
	}
	i, ok := p.idx[k]
	if !ok {
		// The record's strings die with the call: keep copies.
		k = key{clone(k.browser), clone(k.major), clone(k.vendor), clone(k.bot)}
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
	if len(p.keys) > maxKeys {
		clear(p.idx)
		p.keys, p.hits = p.keys[:0], p.hits[:0]
	}
}

func clone(s string) string { return string([]byte(s)) }

func init() { pipe.Register(&browser{}) }

func main() { pipe.Main() }
