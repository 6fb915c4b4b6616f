// Command browser is canopy's built-in browser pipe: hits per browser family
// and major version (br,chrome,120), vendor shells on top of their engine (a
// Sogou MetaSr IE 7 hit counts under br,ie,7 and br,ie,7,venders,sogou),
// crawlers (br,bot,googlebot) and the rest (br,other). The host classifies
// each user agent once (sdk/logformat); this pipe only counts the pieces.
package main

import (
	"github.com/canopy-dev/canopy/pipes-src/internal/uaclass"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

type key struct{ browser, major, vendor, bot string }

type browser struct{ c uaclass.Counter[key] }

func (*browser) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "browser", Version: "1.0.0",
		Fields: uaclass.Fields,
		Roots:  []pipe.Root{{Path: []string{"br"}, Action: pipe.Add}},
	}
}

func (p *browser) Init(pipe.Config) error {
	p.c = uaclass.Counter[key]{Group: group, Paths: paths}
	return nil
}

func (p *browser) ProcessBatch(b *pipe.Batch, out *pipe.Out) { p.c.Count(b) }

func (p *browser) Flush(out *pipe.Out) { p.c.Flush(out) }

// group reads browser|major|os|version|vendor|bot.
func group(f []string) (k key) {
	switch {
	case f != nil && f[5] != "":
		k.bot = f[5]
	case f == nil || f[0] == "" || f[0] == "other":
		k.browser = "other"
	default:
		k.browser, k.major, k.vendor = f[0], f[1], f[4]
		if k.major == "" || len(k.major) > 3 { // no browser is at version 1000 yet: a forged agent
			k.major = "unknown"
		}
	}
	return k
}

// paths: br,bot,NAME; br,other; or br,FAMILY,MAJOR and, for a vendor shell,
// br,FAMILY,MAJOR,venders,VENDOR too.
func paths(k key) []pipe.Key {
	switch {
	case k.bot != "":
		return []pipe.Key{pipe.NewKey("br", "bot", k.bot)}
	case k.browser == "other":
		return []pipe.Key{pipe.NewKey("br", "other")}
	case k.vendor != "":
		// "venders" is the seed's spelling; kept so its queries work.
		return []pipe.Key{pipe.NewKey("br", k.browser, k.major), pipe.NewKey("br", k.browser, k.major, "venders", k.vendor)}
	}
	return []pipe.Key{pipe.NewKey("br", k.browser, k.major)}
}

func init() { pipe.Register(&browser{}) }

func main() { pipe.Main() }
