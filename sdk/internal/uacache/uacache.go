// Package uacache is the bounded cache of user agents that logformat's
// Parser and host's AgentCache share: real logs repeat a few thousand
// agents millions of times, so each distinct agent is worked out once.
package uacache

import (
	"encoding/binary"
	"unsafe"
)

// Cache maps user agents to values computed once per distinct agent. A
// map holds them all; a direct-mapped table in front of it, indexed by
// slot, finds the agents just seen with a few loads and one comparison, a
// third of a map lookup (whose hash reads the whole 100-200 byte agent).
// A slot two agents share holds the last one seen; the other is then
// found in the map. Not safe for concurrent use.
type Cache[V any] struct {
	m      map[string]*Entry[V]
	recent [slots]*Entry[V]
	size   int
}

// Entry is one cached agent and its value.
type Entry[V any] struct {
	Key   string // the agent, owned by the cache
	Value V
}

const (
	slotBits = 11
	slots    = 1 << slotBits
)

// New returns a cache that starts over after size distinct agents.
func New[V any](size int) *Cache[V] {
	return &Cache[V]{m: make(map[string]*Entry[V]), size: max(size, 1)}
}

// Get returns the entry of ua, which may alias a buffer the caller reuses.
// On first sight it calls fill with a copy of ua that the cache owns (so
// the value may alias it).
func (c *Cache[V]) Get(ua string, fill func(ua string) V) *Entry[V] {
	s := &c.recent[slot(ua)]
	if e := *s; e != nil && e.Key == ua {
		return e
	}
	e := c.m[ua]
	if e == nil {
		k := string([]byte(ua))
		e = &Entry[V]{Key: k, Value: fill(k)}
		if len(c.m) >= c.size {
			// Starting over is simpler than LRU and costs one more fill
			// per agent; a log whose agents never repeat gains nothing
			// either way.
			clear(c.m)
			c.recent = [slots]*Entry[V]{}
		}
		c.m[k] = e
	}
	*s = e
	return e
}

// Len is how many agents the cache holds.
func (c *Cache[V]) Len() int { return len(c.m) }

// slot picks ua's slot in Cache.recent from its length and four of its
// 8-byte words: the start, a quarter and half way (the system and
// device), the end (the browser's version). Agents equal there but not
// elsewhere share a slot, which costs only map lookups: the slot's agent
// is always compared in full. A short agent is read byte by byte.
func slot(ua string) uint {
	n := len(ua)
	h := uint64(n)
	if n >= 16 {
		b := unsafe.Slice(unsafe.StringData(ua), n)
		le := binary.LittleEndian
		h ^= le.Uint64(b) ^ le.Uint64(b[n/4:])*0xff51afd7ed558ccd ^
			le.Uint64(b[n/2-4:])*0xc4ceb9fe1a85ec53 ^ le.Uint64(b[n-8:])*0x9e3779b97f4a7c15
	} else {
		for i := range n {
			h = h*31 + uint64(ua[i])
		}
	}
	h *= 0x9e3779b97f4a7c15
	return uint(h >> (64 - slotBits))
}
