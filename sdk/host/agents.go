package host

import (
	"github.com/canopy-dev/canopy/sdk/internal/uacache"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// AgentCache classifies and tokenises each distinct user agent once: real
// logs repeat a few thousand agents millions of times, and splitting a
// 150-byte agent costs more than the rest of a line's parse. Use it with a
// logformat.Parser whose own classification is off (SetClassifyUA(false)),
// so a line costs one lookup. It is not safe for concurrent use.
type AgentCache struct {
	c *uacache.Cache[agentEntry]
}

type agentEntry struct {
	agent  pipeabi.Agent
	class  string
	tokens pipeabi.UA // strings alias the cache's key; slices clipped (see Fill)
}

// NewAgentCache returns a cache that starts over after size distinct
// agents (logformat.DefaultUACacheSize when size <= 0).
func NewAgentCache(size int) *AgentCache {
	if size <= 0 {
		size = logformat.DefaultUACacheSize
	}
	return &AgentCache{c: uacache.New[agentEntry](size)}
}

// Fill sets dst's classified agent (Agent, AgentClass) and its tokens (UA,
// UAParsed) for dst.UserAgent, which it points at the cache's equal copy; an empty UserAgent leaves them unset, with
// dst.UA's slices nil. dst.UA's slices are the cache's, clipped to their
// length so appending to them copies: they must not be written in place.
func (c *AgentCache) Fill(dst *pipeabi.Record) {
	if dst.UserAgent == "" {
		// dst may hold the cache's slices from an earlier line: drop them
		// rather than let a later tokenisation reuse (and overwrite) them.
		dst.UA = pipeabi.UA{}
		return
	}
	en := c.c.Get(dst.UserAgent, newAgentEntry)
	e := &en.Value
	// The cache's copy: records of one agent then share its memory, and
	// the encoder finds a repeat by its address (pipeabi.SharedColumns).
	dst.UserAgent = en.Key
	dst.Agent, dst.AgentClass = e.agent, e.class
	dst.UA, dst.UAParsed = e.tokens, true
}

func newAgentEntry(ua string) agentEntry {
	u := logformat.ClassifyUserAgent(ua)
	t := pipeabi.TokenizeUA(pipeabi.UA{}, ua)
	return agentEntry{
		agent: pipeabi.Agent{Browser: u.Browser, BrowserMajor: u.BrowserMajor, OS: u.OS,
			OSVersion: u.OSVersion, Vendor: u.Vendor, Bot: u.Bot},
		class:  u.Class,
		tokens: pipeabi.UA{Products: t.Products[:len(t.Products):len(t.Products)], Comments: t.Comments[:len(t.Comments):len(t.Comments)]},
	}
}
