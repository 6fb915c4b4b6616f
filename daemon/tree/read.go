package tree

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unsafe"
)

// stateSet is a set of positions in a pattern's segments: the pattern runs
// as an NFA over the names along a path ("**" stays or moves on), which
// handles any mix of wildcards without emitting a node twice.
type stateSet uint64

// maxSegments bounds a pattern so its state set fits a word.
const maxSegments = 63

func (p *Pattern) closure(s stateSet) stateSet {
	for i := range p.segs {
		if s&(1<<i) != 0 && p.segs[i].kind == segAny {
			s |= 1 << (i + 1)
		}
	}
	return s
}

func (p *Pattern) start() stateSet { return p.closure(1) }

func (p *Pattern) step(s stateSet, name string) stateSet {
	var next stateSet
	for s != 0 {
		i := bits.TrailingZeros64(uint64(s))
		s &^= 1 << i
		if i >= len(p.segs) {
			continue
		}
		seg := &p.segs[i]
		if seg.kind == segAny {
			next |= 1 << i
		} else if seg.match(name) {
			next |= 1 << (i + 1)
		}
	}
	return p.closure(next)
}

// uniformStep reports the states every name reaches from s when s is a
// single one-level wildcard state.
func (p *Pattern) uniformStep(s stateSet) (stateSet, bool) {
	if bits.OnesCount64(uint64(s)) != 1 {
		return 0, false
	}
	i := bits.TrailingZeros64(uint64(s))
	if i >= len(p.segs) || p.segs[i].kind != segOne {
		return 0, false
	}
	return p.closure(1 << (i + 1)), true
}

func (p *Pattern) accepts(s stateSet) bool { return s&(1<<len(p.segs)) != 0 }

// only returns the name when s is exactly one exact-name state, so the walk
// can look one child up instead of visiting all.
func (p *Pattern) only(s stateSet) (string, bool) {
	if bits.OnesCount64(uint64(s)) != 1 {
		return "", false
	}
	i := bits.TrailingZeros64(uint64(s))
	if i < len(p.segs) && p.segs[i].kind == segExact {
		return p.segs[i].text, true
	}
	return "", false
}

// reader collects the entries a pattern selects. A matched node is emitted
// with its whole subtree, and matching stops there.
type reader struct {
	t     *Tree
	p     *Pattern
	since uint64 // only nodes changed after this version (0 = all)
	out   []Entry
	key   []byte
	// Keys are gathered in one buffer and cut into strings at the end: one
	// allocation instead of one a node.
	keys []byte
	ends []int
	// JSON mode (AppendJSON): entries go straight into js as the flat
	// list, instead of into out.
	asJSON bool
	js     []byte
}

// finish turns the gathered key spans into the entries' Key strings.
func (r *reader) finish() []Entry {
	all := string(r.keys)
	start := 0
	for i, end := range r.ends {
		r.out[i].Key = all[start:end]
		start = end
	}
	return r.out
}

// Get returns every node matching p, and all its descendants, that holds a
// number or a marker. Children come in name order.
func (t *Tree) Get(p *Pattern) []Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := reader{t: t, p: p}
	r.run()
	return r.finish()
}

// Since returns what Get would, restricted to nodes changed after version
// v, plus the version the result is current to. Subtrees unchanged since v
// are not visited.
func (t *Tree) Since(p *Pattern, v uint64) ([]Entry, uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	cur := t.version.Load()
	if v >= cur {
		return nil, cur
	}
	r := reader{t: t, p: p, since: v}
	r.run()
	return r.finish(), cur
}

func (r *reader) run() {
	s := r.p.start()
	if r.p.accepts(s) {
		if r.since == 0 && !r.asJSON {
			// The whole tree: size the result once instead of growing it.
			r.out = make([]Entry, 0, r.t.nodes)
			r.ends = make([]int, 0, r.t.nodes)
			r.keys = make([]byte, 0, r.t.nodes*24)
		}
		r.subtree(&r.t.root, ActionAdd)
		return
	}
	r.visitKids(&r.t.root, s, ActionAdd)
}

// grow makes room for about n more entries at once, rather than growing the
// slices step by step.
func (r *reader) grow(n int) {
	if r.since > 0 || r.asJSON {
		return // a "since" read usually returns few entries; JSON builds none
	}
	r.out = slices.Grow(r.out, n)
	r.ends = slices.Grow(r.ends, n)
	r.keys = slices.Grow(r.keys, n*(len(r.key)+12))
}

func (r *reader) changed(n *node) bool { return n.sub > r.since }

// visitKids matches n's children with the states s reached at n.
func (r *reader) visitKids(n *node, s stateSet, act Action) {
	if len(n.kids) == 0 || !r.changed(n) {
		return
	}
	if name, ok := r.p.only(s); ok {
		if c := n.kids[name]; c != nil {
			r.visit(c, s, act)
		}
		return
	}
	kids := r.t.sortedKids(n)
	r.grow(len(kids))
	// When every child moves to the same states ("*" or an empty segment),
	// step once for all of them.
	next, uniform := r.p.uniformStep(s)
	for _, c := range kids {
		if uniform {
			r.enter(c, next, act)
		} else {
			r.visit(c, s, act)
		}
	}
}

func (r *reader) visit(c *node, s stateSet, act Action) {
	if !r.changed(c) {
		return
	}
	r.enter(c, r.p.step(s, c.name), act)
}

// enter handles c, which moved the pattern to states next.
func (r *reader) enter(c *node, next stateSet, act Action) {
	if next == 0 || !r.changed(c) {
		return
	}
	if c.flags&flagAction != 0 {
		act = c.act
	}
	mark := len(r.key)
	r.key = appendKey(r.key, c.name)
	if r.p.accepts(next) {
		r.emit(c, act)
		r.subtree(c, act)
	} else {
		r.visitKids(c, next, act)
	}
	r.key = r.key[:mark]
}

// subtree emits n's descendants (not n).
func (r *reader) subtree(n *node, act Action) {
	if len(n.kids) == 0 || !r.changed(n) {
		return
	}
	kids := r.t.sortedKids(n)
	r.grow(len(kids))
	for _, c := range kids {
		if !r.changed(c) {
			continue
		}
		a := act
		if c.flags&flagAction != 0 {
			a = c.act
		}
		mark := len(r.key)
		r.key = appendKey(r.key, c.name)
		r.emit(c, a)
		r.subtree(c, a)
		r.key = r.key[:mark]
	}
}

func (r *reader) emit(n *node, act Action) {
	if r.since > 0 && n.ver <= r.since {
		return
	}
	if r.asJSON {
		r.emitJSON(n)
		return
	}
	switch {
	case n.flags&flagValue != 0:
		r.out = append(r.out, Entry{Value: n.val, Action: act, Version: n.ver})
	case n.flags&flagMarker != 0:
		r.out = append(r.out, Entry{Marker: r.t.markers[n], IsMarker: true, Action: act, Version: n.ver})
	default:
		return
	}
	r.keys = append(r.keys, r.key...)
	r.ends = append(r.ends, len(r.keys))
}

// AppendJSON appends what Get returns as its JSON form, the seed's flat
// list ([{"br,ie,7":8},…], byte for byte what encoding/json makes of the
// entries), and returns the version it is current to. It builds no
// entries: on a wide read this is several times cheaper than Get and a
// JSON encoder, and allocates nothing when dst has room.
func (t *Tree) AppendJSON(dst []byte, p *Pattern) ([]byte, uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := reader{t: t, p: p, asJSON: true, js: append(dst, '[')}
	r.run()
	return append(r.js, ']'), t.version.Load()
}

func (r *reader) emitJSON(n *node) {
	if n.flags&(flagValue|flagMarker) == 0 {
		return
	}
	if r.js[len(r.js)-1] != '[' { // not the list's first entry
		r.js = append(r.js, ',')
	}
	key := unsafe.String(unsafe.SliceData(r.key), len(r.key)) // used before r.key changes
	isMarker, marker := n.flags&flagValue == 0, ""            // a value wins, as in emit
	if isMarker {
		marker = r.t.markers[n]
	}
	r.js = appendEntryJSON(r.js, key, isMarker, marker, n.val)
}

// appendEntryJSON appends one entry of the flat list, {"KEY":VALUE}: the
// form of Entry.MarshalJSON and of AppendJSON.
func appendEntryJSON(dst []byte, key string, isMarker bool, marker string, v float64) []byte {
	dst = append(dst, '{')
	dst = appendJSONString(dst, key)
	dst = append(dst, ':')
	if isMarker {
		dst = appendJSONString(dst, marker)
	} else {
		dst = appendNumber(dst, v)
	}
	return append(dst, '}')
}

// appendNumber appends v as strconv's 'g' shortest form. Counters are
// mostly small integers, which that form writes as plain digits: AppendInt
// does those several times faster.
func appendNumber(dst []byte, v float64) []byte {
	if i := int64(v); float64(i) == v && i > -1e6 && i < 1e6 && (i != 0 || !math.Signbit(v)) {
		return strconv.AppendInt(dst, i, 10)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// GetTree returns the matched nodes nested, in push shape: "" holds a node's
// own number or marker when it also has children, "defaultaction" appears
// where one is set. Merging the result into an empty tree reproduces the
// matched subtrees.
func (t *Tree) GetTree(p *Pattern) map[string]any {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := reader{t: t, p: p}
	r.run()
	out := map[string]any{}
	for _, e := range r.finish() {
		names, err := SplitKey(e.Key)
		if err != nil {
			continue
		}
		obj, n := out, &t.root
		for i, name := range names {
			n = n.kids[name]
			last := i == len(names)-1
			child, isObj := obj[name].(map[string]any)
			if !isObj {
				if last && len(n.kids) == 0 && n.flags&flagAction == 0 {
					obj[name] = leafValue(e)
					break
				}
				child = map[string]any{}
				if n.flags&flagAction != 0 {
					child["defaultaction"] = n.act.String()
				}
				obj[name] = child
			}
			if last {
				child[""] = leafValue(e)
			}
			obj = child
		}
	}
	return out
}

func leafValue(e Entry) any {
	if e.IsMarker {
		return e.Marker
	}
	return e.Value
}
