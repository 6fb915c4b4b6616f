package host

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// TestAgentCache checks that a cached agent equals a fresh classification
// and tokenisation, on first sight and on a hit, and that appending to a
// record's tokens cannot change what the cache hands out next.
func TestAgentCache(t *testing.T) {
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; SE 2.X MetaSr 1.0)",
		"curl/8.4.0",
		"",
	}
	c := NewAgentCache(2) // smaller than the list: starting over is covered
	for round := range 3 {
		for _, ua := range agents {
			line := []byte(ua) // the record aliases a line the caller reuses
			var r pipeabi.Record
			r.UserAgent = string(line)
			c.Fill(&r)
			r.UA.Products = append(r.UA.Products, pipeabi.Product{Name: "x"})
			r.UA.Products = r.UA.Products[:len(r.UA.Products)-1]
			clear(line)

			want := pipeabi.Record{UserAgent: ua} // the line's bytes were cleared: Fill's copy
			if ua != "" {
				u := logformat.ClassifyUserAgent(ua)
				want.Agent = pipeabi.Agent{Browser: u.Browser, BrowserMajor: u.BrowserMajor, OS: u.OS,
					OSVersion: u.OSVersion, Vendor: u.Vendor, Bot: u.Bot}
				want.AgentClass = u.Class
				want.UA, want.UAParsed = pipeabi.TokenizeUA(pipeabi.UA{}, ua), true
			}
			got := pipeabi.Record{UserAgent: r.UserAgent, Agent: r.Agent, AgentClass: r.AgentClass, UA: emptyNil(r.UA), UAParsed: r.UAParsed}
			want.UA = emptyNil(want.UA)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round %d, %q: got %+v, want %+v", round, ua, got, want)
			}
		}
	}
}

// emptyNil makes empty token lists nil, so a reused slice compares equal.
func emptyNil(u pipeabi.UA) pipeabi.UA {
	if len(u.Products) == 0 {
		u.Products = nil
	}
	if len(u.Comments) == 0 {
		u.Comments = nil
	}
	return u
}

// TestAgentCacheSharesAgent: records of one agent point at one copy of it,
// which the encoder's dictionary finds by address (pipeabi.SharedColumns).
func TestAgentCacheSharesAgent(t *testing.T) {
	c := NewAgentCache(0)
	ua := "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
	var a, b pipeabi.Record
	a.UserAgent, b.UserAgent = strings.Clone(ua), strings.Clone(ua)
	c.Fill(&a)
	c.Fill(&b)
	if a.UserAgent != ua || unsafe.StringData(a.UserAgent) != unsafe.StringData(b.UserAgent) {
		t.Errorf("agents %q at %p and %q at %p, want %q at one address",
			a.UserAgent, unsafe.StringData(a.UserAgent), b.UserAgent, unsafe.StringData(b.UserAgent), ua)
	}
}
