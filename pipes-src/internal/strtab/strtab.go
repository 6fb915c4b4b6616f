// Package strtab is a string-keyed map to int32 values for the built-in
// pipes' hot paths. A Go map[string] access in Go's WASM build costs a few
// hundred nanoseconds (its string hash and its group probing are generic
// code there, with no AES or SIMD to lean on); with a few thousand client
// addresses or paths per batch those accesses were most of the hosts, geo
// and requests pipes' cost. This table hashes eight bytes per multiply and
// probes linearly, which is a handful of wasm instructions per lookup.
//
// The hash is seeded per Map from the runtime's random source, so a log
// crafted to collide in one instance does not collide in another; tables
// stay small (the pipes bound them), which bounds the damage anyway.
package strtab

import (
	"math/rand/v2"
	"unsafe"
)

// Map maps strings to int32 values. The zero Map is not ready: use New.
// It keeps the key strings it is given (clone a key that aliases a batch).
type Map struct {
	slots []slot
	n     int
	shift uint // 64 - log2(len(slots))
	seed  uint64
}

type slot struct {
	hash uint64 // 0: free; stored hashes have their low bit set
	key  string
	val  int32
}

// New returns an empty map sized for about n keys.
func New(n int) *Map {
	m := &Map{seed: rand.Uint64() | 1}
	m.resize(max(16, n*2))
	return m
}

// Len is the number of keys.
func (m *Map) Len() int { return m.n }

// Get returns the value of key s.
func (m *Map) Get(s string) (int32, bool) { return m.GetHash(m.hash(s), s) }

// Hash returns the hash of s that GetHash, SetHash and DeleteHash take, so
// a caller that looks a key up, then sets it, or that deletes a key it
// kept, hashes it once (a hash is a call and a loop in Go's WASM build).
func (m *Map) Hash(s string) uint64 { return m.hash(s) }

// GetHash is Get with h = Hash(s).
func (m *Map) GetHash(h uint64, s string) (int32, bool) {
	mask := len(m.slots) - 1
	for i := int(h >> m.shift); ; i = (i + 1) & mask {
		sl := &m.slots[i]
		if sl.hash == h && sl.key == s {
			return sl.val, true
		}
		if sl.hash == 0 {
			return 0, false
		}
	}
}

// Set sets the value of key s (kept as given).
func (m *Map) Set(s string, v int32) { m.SetHash(m.hash(s), s, v) }

// SetHash is Set with h = Hash(s).
func (m *Map) SetHash(h uint64, s string, v int32) {
	if 2*(m.n+1) > len(m.slots) { // load under one half
		m.resize(2 * len(m.slots))
	}
	mask := len(m.slots) - 1
	for i := int(h >> m.shift); ; i = (i + 1) & mask {
		sl := &m.slots[i]
		if sl.hash == 0 {
			*sl = slot{hash: h, key: s, val: v}
			m.n++
			return
		}
		if sl.hash == h && sl.key == s {
			sl.val = v
			return
		}
	}
}

// Delete removes key s if present. Later keys of its probe run move back
// into the hole (no tombstones), so lookups stay short however many keys
// come and go.
func (m *Map) Delete(s string) { m.DeleteHash(m.hash(s), s) }

// DeleteHash is Delete with h = Hash(s).
func (m *Map) DeleteHash(h uint64, s string) {
	mask := len(m.slots) - 1
	i := int(h >> m.shift)
	for {
		sl := &m.slots[i]
		if sl.hash == 0 {
			return
		}
		if sl.hash == h && sl.key == s {
			break
		}
		i = (i + 1) & mask
	}
	m.n--
	for j := i; ; {
		j = (j + 1) & mask
		sj := &m.slots[j]
		if sj.hash == 0 {
			break
		}
		// sj may move to i if its home is not within (i, j] cyclically.
		home := int(sj.hash >> m.shift)
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			m.slots[i] = *sj
			i = j
		}
	}
	m.slots[i] = slot{}
}

// Clear removes every key, keeping the memory.
func (m *Map) Clear() {
	clear(m.slots)
	m.n = 0
}

func (m *Map) resize(size int) {
	bits := uint(0)
	for 1<<bits < size {
		bits++
	}
	old := m.slots
	m.slots = make([]slot, 1<<bits)
	m.shift = 64 - bits
	m.n = 0
	for _, sl := range old {
		if sl.hash != 0 {
			m.put(sl)
		}
	}
}

// put inserts a slot known not to be present (resize).
func (m *Map) put(s slot) {
	mask := len(m.slots) - 1
	for i := int(s.hash >> m.shift); ; i = (i + 1) & mask {
		if m.slots[i].hash == 0 {
			m.slots[i] = s
			m.n++
			return
		}
	}
}

const (
	k1 = 0x9E3779B97F4A7C15
	k2 = 0xBF58476D1CE4E5B9
)

// hash mixes s eight bytes at a time; the index is taken from the top bits,
// which the final multiply spreads well.
func (m *Map) hash(s string) uint64 {
	n := len(s)
	h := m.seed ^ uint64(n)*k1
	if n > 0 {
		p := unsafe.Pointer(unsafe.StringData(s))
		i := 0
		for ; i+8 <= n; i += 8 {
			h = (h ^ *(*uint64)(unsafe.Add(p, i))) * k2
			h ^= h >> 31
		}
		if i < n {
			var w uint64
			if n >= 8 { // the last eight bytes, overlapping the words above
				w = *(*uint64)(unsafe.Add(p, n-8))
			} else {
				for j := i; j < n; j++ {
					w = w<<8 | uint64(*(*byte)(unsafe.Add(p, j)))
				}
			}
			h = (h ^ w) * k2
			h ^= h >> 31
		}
	}
	h *= k1
	return h | 1
}
