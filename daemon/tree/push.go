package tree

import "encoding/json"

// Push is a decoded push (daemon/push decodes the wire formats): the
// defaultactions and units it sets and the deltas it merges.
type Push struct {
	acts   []actionSet
	Deltas []Delta
}

// Reset empties p, keeping its space for the next push.
func (p *Push) Reset() { p.acts, p.Deltas = p.acts[:0], p.Deltas[:0] }

// Merge merges a parsed push atomically under one version.
func (t *Tree) Merge(p *Push) (MergeResult, error) {
	return t.apply(p.acts, p.Deltas)
}

// Len returns the number of deltas and defaultactions in p.
func (p *Push) Len() int { return len(p.acts) + len(p.Deltas) }

// Filter returns the part of p that keep accepts, by path: how a relay
// splits a push between shards. A defaultaction is offered to keep with its
// own path.
func (p *Push) Filter(keep func(path []string) bool) *Push {
	return p.FilterKinds(keep, keep)
}

// FilterKinds is Filter with one test for defaultactions and another for
// deltas (a relay gives a defaultaction above the shard depth to every
// shard, a number there to one).
func (p *Push) FilterKinds(keepAction, keepDelta func(path []string) bool) *Push {
	out := &Push{}
	for _, a := range p.acts {
		if keepAction(a.path) {
			out.acts = append(out.acts, a)
		}
	}
	for _, d := range p.Deltas {
		if keepDelta(d.Path) {
			out.Deltas = append(out.Deltas, d)
		}
	}
	return out
}

// Append adds q's content after p's, as if both had been one push.
func (p *Push) Append(q *Push) {
	p.acts = append(p.acts, q.acts...)
	p.Deltas = append(p.Deltas, q.Deltas...)
}

// jsonEscapes are the bytes encoding/json writes other than as themselves
// (controls, quote, backslash, HTML characters; bytes >= 0x80 may be
// invalid UTF-8): appendJSONString hands a string with one to json.Marshal.
var jsonEscapes = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&'
	}
	return t
}()

// appendJSONString appends s as a JSON string, byte for byte as
// encoding/json writes it (HTML characters escaped too).
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if jsonEscapes[s[i]] {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// Take empties the tree of its numbers and markers and returns what it
// held as a push: every number and marker, and every defaultaction. A relay
// running pipes collects their output in a scratch tree and forwards it
// this way, so counters arrive summed per batch (and averages with their
// sample counts). The defaultactions stay: they say how the numbers of the
// next batch merge (pipes set them once, when they load).
func (t *Tree) Take() *Push {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &Push{}
	var walk func(n *node, path []string)
	walk = func(n *node, path []string) {
		for name, c := range n.kids {
			cp := append(path[:len(path):len(path)], name)
			if c.flags&flagAction != 0 {
				p.acts = append(p.acts, actionSet{path: cp, act: c.act})
			}
			if c.flags&flagUnit != 0 {
				p.acts = append(p.acts, actionSet{path: cp, unit: t.units[c], isUnit: true})
			}
			switch {
			case c.flags&flagValue != 0:
				// An average keeps its weight: the number of samples
				// it is the mean of (other actions ignore Samples).
				p.Deltas = append(p.Deltas, Delta{Path: cp, Value: c.val, Samples: c.n})
			case c.flags&flagMarker != 0:
				p.Deltas = append(p.Deltas, Delta{Path: cp, Marker: t.markers[c], IsMarker: true})
			}
			walk(c, cp)
		}
	}
	walk(&t.root, nil)
	if len(t.root.kids) > 0 {
		t.version.Add(1)
	}
	t.root = node{sub: t.version.Load()}
	t.markers = map[*node]string{}
	t.units = map[*node]string{}
	t.order = map[*node][]*node{}
	t.nodes = 0
	for _, a := range p.acts {
		path := t.walk(a.path, t.root.sub)
		t.set(path[len(path)-1], a)
	}
	return p
}

// Actions calls fn with every defaultaction p sets, in order.
func (p *Push) Actions(fn func(path []string, a Action)) {
	for _, a := range p.acts {
		if !a.isUnit {
			fn(a.path, a.act)
		}
	}
}

// Units calls fn with every unit p declares, in order.
func (p *Push) Units(fn func(path []string, unit string)) {
	for _, a := range p.acts {
		if a.isUnit {
			fn(a.path, a.unit)
		}
	}
}

// AddUnit makes p also declare the unit of the subtree at path.
func (p *Push) AddUnit(path []string, unit string) {
	p.acts = append(p.acts, actionSet{path: path, unit: unit, isUnit: true})
}

// AddAction makes p also set the defaultaction at path.
func (p *Push) AddAction(path []string, a Action) {
	p.acts = append(p.acts, actionSet{path: path, act: a})
}
