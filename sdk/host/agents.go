package host

import (
	"hash/maphash"

	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// AgentCache classifies and tokenises each distinct user agent once: real
// logs repeat a few thousand agents millions of times, and splitting a
// 150-byte agent costs more than the rest of a line's parse. Use it with a
// logformat.Parser whose own classification is off (SetClassifyUA(false)),
// so a line costs one lookup. It is not safe for concurrent use.
type AgentCache struct {
	m    map[string]*agentEntry
	size int
	// recent is a direct-mapped table in front of m, indexed by a seeded
	// hash of the agent: a hit costs that hash and one comparison, about
	// half of a map lookup. A slot two agents share holds the last one
	// seen; the other is then found in m.
	recent [recentSlots]*agentEntry
	seed   maphash.Seed
}

const recentSlots = 1 << 11

type agentEntry struct {
	key    string // the agent, owned by the cache
	agent  pipeabi.Agent
	class  string
	tokens pipeabi.UA // strings alias key; slices clipped (see Fill)
}

// NewAgentCache returns a cache that starts over after size distinct
// agents (logformat.DefaultUACacheSize when size <= 0).
func NewAgentCache(size int) *AgentCache {
	if size <= 0 {
		size = logformat.DefaultUACacheSize
	}
	return &AgentCache{m: make(map[string]*agentEntry), size: size, seed: maphash.MakeSeed()}
}

// Fill sets dst's classified agent (Agent, AgentClass) and its tokens (UA,
// UAParsed) for dst.UserAgent; an empty UserAgent leaves them unset, with
// dst.UA's slices nil. dst.UA's slices are the cache's, clipped to their
// length so appending to them copies: they must not be written in place.
func (c *AgentCache) Fill(dst *pipeabi.Record) {
	if dst.UserAgent == "" {
		// dst may hold the cache's slices from an earlier line: drop them
		// rather than let a later tokenisation reuse (and overwrite) them.
		dst.UA = pipeabi.UA{}
		return
	}
	slot := &c.recent[maphash.String(c.seed, dst.UserAgent)&(recentSlots-1)]
	e := *slot
	if e == nil || e.key != dst.UserAgent {
		if e = c.m[dst.UserAgent]; e == nil {
			e = c.add(dst.UserAgent)
		}
		*slot = e
	}
	dst.Agent, dst.AgentClass = e.agent, e.class
	dst.UA, dst.UAParsed = e.tokens, true
}

// add classifies and tokenises ua and enters it.
func (c *AgentCache) add(ua string) *agentEntry {
	// ua aliases the line: the key must be a copy.
	s := string([]byte(ua))
	u := logformat.ClassifyUserAgent(s)
	t := pipeabi.TokenizeUA(pipeabi.UA{}, s)
	e := &agentEntry{
		key: s,
		agent: pipeabi.Agent{Browser: u.Browser, BrowserMajor: u.BrowserMajor, OS: u.OS,
			OSVersion: u.OSVersion, Vendor: u.Vendor, Bot: u.Bot},
		class:  u.Class,
		tokens: pipeabi.UA{Products: t.Products[:len(t.Products):len(t.Products)], Comments: t.Comments[:len(t.Comments):len(t.Comments)]},
	}
	if len(c.m) >= c.size {
		// Starting over is simpler than LRU and costs one re-classification
		// per agent; a log whose agents never repeat gains nothing either way.
		clear(c.m)
		c.recent = [recentSlots]*agentEntry{}
	}
	c.m[s] = e
	return e
}
