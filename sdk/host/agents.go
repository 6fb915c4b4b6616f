package host

import (
	"encoding/binary"
	"unsafe"

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
	// recent is a direct-mapped table in front of m, indexed by recentSlot:
	// a hit costs a few loads and one comparison, a third of a map lookup
	// (whose hash reads the whole 100-200 byte agent). A slot two agents
	// share holds the last one seen; the other is then found in m.
	recent [recentSlots]*agentEntry
}

const (
	recentBits  = 11
	recentSlots = 1 << recentBits
)

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
	return &AgentCache{m: make(map[string]*agentEntry), size: size}
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
	slot := &c.recent[recentSlot(dst.UserAgent)]
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

// recentSlot picks ua's slot in AgentCache.recent from its length and
// four of its 8-byte words: the start, a quarter and half way (the system
// and device), the end (the browser's version). Agents equal there but
// not elsewhere share a slot, which costs only map lookups: the slot's
// agent is always compared in full.
func recentSlot(ua string) uint {
	n := len(ua)
	h := uint64(n)
	if n >= 8 {
		b := unsafe.Slice(unsafe.StringData(ua), n)
		le := binary.LittleEndian
		h ^= le.Uint64(b) ^ le.Uint64(b[n/4:])*0xff51afd7ed558ccd ^
			le.Uint64(b[n/2-4:])*0xc4ceb9fe1a85ec53 ^ le.Uint64(b[n-8:])*0x9e3779b97f4a7c15
	} else {
		for i := range n {
			h = h<<8 | uint64(ua[i])
		}
	}
	h *= 0x9e3779b97f4a7c15
	return uint(h >> (64 - recentBits))
}
