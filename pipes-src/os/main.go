// Command os is canopy's built-in operating-system pipe: hits per OS family
// and version (os,windows,10, os,ios,17, os,macos,10.15; os,linux,unknown
// when the agent names no version), crawlers under os,bot and agents with
// no known OS under os,other. The host classifies each user agent once
// (sdk/logformat).
package main

import (
	"github.com/canopy-dev/canopy/pipes-src/internal/uaclass"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

type key struct{ os, version string }

type osPipe struct{ c uaclass.Counter[key] }

func (*osPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "os", Version: "1.0.0",
		Fields: uaclass.Fields,
		Roots:  []pipe.Root{{Path: []string{"os"}, Action: pipe.Add}},
	}
}

func (p *osPipe) Init(pipe.Config) error {
	p.c = uaclass.Counter[key]{Group: group, Paths: paths}
	return nil
}

func (p *osPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) { p.c.Count(b) }

func (p *osPipe) Flush(out *pipe.Out) { p.c.Flush(out) }

// group reads browser|major|os|version|vendor|bot.
func group(f []string) (k key) {
	switch {
	case f != nil && f[5] != "":
		// A crawler's OS token is a disguise (Googlebot claims Android).
		k.os = "bot"
	case f == nil || f[2] == "":
		k.os = "other"
	default:
		k.os, k.version = f[2], f[3]
		if k.version == "" || len(k.version) > 8 {
			k.version = "unknown"
		}
	}
	return k
}

// paths: os,OS,VERSION, or os,bot / os,other.
func paths(k key) []pipe.Key {
	if k.version != "" {
		return []pipe.Key{pipe.NewKey("os", k.os, k.version)}
	}
	return []pipe.Key{pipe.NewKey("os", k.os)}
}

func init() { pipe.Register(&osPipe{}) }

func main() { pipe.Main() }
