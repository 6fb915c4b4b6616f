package tree

import (
	"math"
	"slices"
	"strconv"
	"unsafe"

	"github.com/canopy-dev/canopy/daemon/key"
)

// reader collects the entries a pattern selects. A matched node is emitted
// with its whole subtree, and matching stops there.
type reader struct {
	t     *Tree
	p     *key.Pattern
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
func (t *Tree) Get(p *key.Pattern) []Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := reader{t: t, p: p}
	r.run()
	return r.finish()
}

// Since returns what Get would, restricted to nodes changed after version
// v, plus the version the result is current to. Subtrees unchanged since v
// are not visited.
func (t *Tree) Since(p *key.Pattern, v uint64) ([]Entry, uint64) {
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
	s := r.p.Start()
	if r.p.Accepts(s) {
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
func (r *reader) visitKids(n *node, s key.State, act Action) {
	if len(n.kids) == 0 || !r.changed(n) {
		return
	}
	if name, ok := r.p.Only(s); ok {
		if c := n.kids[name]; c != nil {
			r.visit(c, s, act)
		}
		return
	}
	kids := r.t.sortedKids(n)
	r.grow(len(kids))
	// When every child moves to the same states ("*" or an empty segment),
	// step once for all of them.
	next, uniform := r.p.UniformStep(s)
	for _, c := range kids {
		if uniform {
			r.enter(c, next, act)
		} else {
			r.visit(c, s, act)
		}
	}
}

func (r *reader) visit(c *node, s key.State, act Action) {
	if !r.changed(c) {
		return
	}
	r.enter(c, r.p.Step(s, c.name), act)
}

// enter handles c, which moved the pattern to states next.
func (r *reader) enter(c *node, next key.State, act Action) {
	if next == 0 || !r.changed(c) {
		return
	}
	if c.flags&flagAction != 0 {
		act = c.act
	}
	mark := len(r.key)
	r.key = key.AppendName(r.key, c.name)
	if r.p.Accepts(next) {
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
		r.key = key.AppendName(r.key, c.name)
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
func (t *Tree) AppendJSON(dst []byte, p *key.Pattern) ([]byte, uint64) {
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
// own number or marker when it also has children, "defaultaction" and
// "defaultunit" appear where one is set. Merging the result into an empty tree reproduces the
// matched subtrees.
func (t *Tree) GetTree(p *key.Pattern) map[string]any {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := reader{t: t, p: p}
	r.run()
	out := map[string]any{}
	for _, e := range r.finish() {
		names, err := key.Split(e.Key)
		if err != nil {
			continue
		}
		obj, n := out, &t.root
		for i, name := range names {
			n = n.kids[name]
			last := i == len(names)-1
			child, isObj := obj[name].(map[string]any)
			if !isObj {
				if last && len(n.kids) == 0 && n.flags&(flagAction|flagUnit) == 0 {
					obj[name] = leafValue(e)
					break
				}
				child = map[string]any{}
				if n.flags&flagAction != 0 {
					child["defaultaction"] = n.act.String()
				}
				if n.flags&flagUnit != 0 {
					child["defaultunit"] = t.units[n]
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
