// Command referrers is canopy's built-in referrers pipe (GoAccess's
// "referring sites" and "referrers" panels): hits per referring site (the
// host part of $http_referer) and per full referrer URL, each a bounded
// top-N with the rest under _other (pipes-src/internal/topn). Referrers
// from the site itself (navigation inside it) are left out: hosts in the
// exclude list, and by default the line's own $host when the format logs
// it.
package main

import (
	"strings"

	"github.com/canopy-dev/canopy/pipes-src/internal/topn"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/wire"
)

type referrersPipe struct {
	exact    map[string]bool // excluded hosts
	suffixes []string        // excluded ".example.com" of "*.example.com"
	ownHost  bool

	sites, urls *topn.Set
	// per distinct referer of the batch
	site []string // its host part (with port)
	name []string // the host without port, for the own-host check
	excl []bool   // left out by the exclude list (or empty)
	hits []float64
}

func (*referrersPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "referrers", Version: "1.0.0",
		Fields: []string{pipe.FieldReferer, pipe.FieldHost},
		Roots:  []pipe.Root{{Path: []string{"ref"}, Action: pipe.Add}},
	}
}

func (p *referrersPipe) Init(cfg pipe.Config) error {
	top, err := cfg.Int("top", 100)
	if err != nil {
		return err
	}
	maxKeys, err := cfg.Int("max_keys", 1000)
	if err != nil {
		return err
	}
	capacity, err := cfg.Int("capacity", 2000)
	if err != nil {
		return err
	}
	maxLen, err := cfg.Int("max_url_len", 256)
	if err != nil {
		return err
	}
	maxLen = min(max(maxLen, 1), wire.MaxSegmentBytes)
	p.exact = make(map[string]bool)
	for _, h := range strings.Split(cfg.String("exclude", ""), ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case strings.HasPrefix(h, "*."):
			p.suffixes = append(p.suffixes, h[1:])
			p.exact[h[2:]] = true
		default:
			p.exact[h] = true
		}
	}
	p.ownHost = cfg.String("exclude_own_host", "true") != "false"
	p.sites = topn.New(top, maxKeys, capacity, min(maxLen, 128), []string{"ref", "site"})
	p.urls = topn.New(top, maxKeys, capacity, maxLen, []string{"ref", "url"})
	return nil
}

// siteOf returns the host part of a referrer URL, lower-case, with its
// port: what follows "//" up to the first '/', '?' or '#'. A referrer
// without "//" (android-app:, junk) is its own site.
func siteOf(ref string) string {
	s := ref
	if i := strings.Index(s, "//"); i >= 0 {
		s = s[i+2:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 { // user:pass@host
		s = s[i+1:]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// excluded reports whether the exclude list leaves site (without port)
// out.
func (p *referrersPipe) excluded(name string) bool {
	if p.exact[name] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// hostName drops the port of a host[:port] ("[v6]:port" keeps its brackets
// off).
func hostName(site string) string {
	if strings.HasPrefix(site, "[") {
		if i := strings.IndexByte(site, ']'); i > 0 {
			return site[1:i]
		}
	}
	if i := strings.LastIndexByte(site, ':'); i >= 0 && strings.IndexByte(site, ':') == i {
		return site[:i]
	}
	return site
}

// ProcessBatch classifies each distinct referrer once; per line it only
// compares the referrer's host with the line's $host.
func (p *referrersPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	refs, hosts := b.Strings(pipe.FieldReferer), b.Strings(pipe.FieldHost)
	n := refs.Distinct()
	p.site, p.name, p.excl = p.site[:0], p.name[:0], p.excl[:0]
	for d := range n {
		ref := refs.Value(d)
		site := siteOf(ref)
		name := hostName(site)
		p.site = append(p.site, site)
		p.name = append(p.name, name)
		p.excl = append(p.excl, ref == "" || p.excluded(name))
	}
	if cap(p.hits) < n {
		p.hits = make([]float64, n)
	}
	p.hits = p.hits[:n]
	clear(p.hits)
	checkOwn := p.ownHost && !(hosts.Distinct() == 1 && hosts.Value(0) == "")
	hi := hosts.Indexes()
	for r, d := range refs.Indexes() {
		if p.excl[d] {
			continue
		}
		if checkOwn {
			if own := hosts.Value(int(hi[r])); own != "" && strings.EqualFold(p.name[d], own) {
				continue
			}
		}
		p.hits[d]++
	}
	for d, h := range p.hits {
		if h == 0 {
			continue
		}
		if p.site[d] != "" {
			p.sites.Add(p.site[d], h)
		}
		p.urls.Add(refs.Value(d), h)
	}
}

func (p *referrersPipe) Flush(out *pipe.Out) {
	p.sites.Flush(out)
	p.urls.Flush(out)
}

func init() { pipe.Register(&referrersPipe{}) }

func main() { pipe.Main() }
