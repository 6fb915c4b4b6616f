package host

import (
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
}

type agentEntry struct {
	agent  pipeabi.Agent
	class  string
	tokens pipeabi.UA // strings alias the map key, which the cache owns
}

// NewAgentCache returns a cache that starts over after size distinct
// agents (logformat.DefaultUACacheSize when size <= 0).
func NewAgentCache(size int) *AgentCache {
	if size <= 0 {
		size = logformat.DefaultUACacheSize
	}
	return &AgentCache{m: make(map[string]*agentEntry), size: size}
}

// Fill sets dst's classified agent (Agent, AgentClass) and its tokens (UA,
// UAParsed) for dst.UserAgent. dst's token slices are reused, never shared
// with the cache, so a caller appending to them cannot corrupt it.
func (c *AgentCache) Fill(dst *pipeabi.Record) {
	if dst.UserAgent == "" {
		return
	}
	e := c.m[dst.UserAgent]
	if e == nil {
		// dst.UserAgent aliases the line: the key must be a copy.
		s := string([]byte(dst.UserAgent))
		u := logformat.ClassifyUserAgent(s)
		e = &agentEntry{
			agent: pipeabi.Agent{Browser: u.Browser, BrowserMajor: u.BrowserMajor, OS: u.OS,
				OSVersion: u.OSVersion, Vendor: u.Vendor, Bot: u.Bot},
			class:  u.Class,
			tokens: pipeabi.TokenizeUA(pipeabi.UA{}, s),
		}
		if len(c.m) >= c.size {
			// Starting over is simpler than LRU and costs one re-classification
			// per agent; a log whose agents never repeat gains nothing either way.
			clear(c.m)
		}
		c.m[s] = e
	}
	dst.Agent, dst.AgentClass = e.agent, e.class
	dst.UA.Products = append(dst.UA.Products[:0], e.tokens.Products...)
	dst.UA.Comments = append(dst.UA.Comments[:0], e.tokens.Comments...)
	dst.UAParsed = true
}
