package host

import (
	"reflect"
	"testing"

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

			var want pipeabi.Record
			if ua != "" {
				u := logformat.ClassifyUserAgent(ua)
				want.Agent = pipeabi.Agent{Browser: u.Browser, BrowserMajor: u.BrowserMajor, OS: u.OS,
					OSVersion: u.OSVersion, Vendor: u.Vendor, Bot: u.Bot}
				want.AgentClass = u.Class
				want.UA, want.UAParsed = pipeabi.TokenizeUA(pipeabi.UA{}, ua), true
			}
			got := pipeabi.Record{Agent: r.Agent, AgentClass: r.AgentClass, UA: emptyNil(r.UA), UAParsed: r.UAParsed}
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
