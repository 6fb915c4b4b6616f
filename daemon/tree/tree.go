package tree

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/canopy-dev/canopy/daemon/key"
)

// node flags
const (
	flagValue  uint8 = 1 << iota // val holds a number
	flagMarker                   // the node holds a marker (in Tree.markers)
	flagAction                   // act rules this subtree
	// flagUnit: a unit (in Tree.units) rules this subtree; 16, since 8
	// is the snapshot's window flag (snapFlagWindow).
	flagUnit uint8 = 16
)

// node is kept small: a 1M-node tree must stay under 200 bytes a node.
// Marker strings are rare, so they live in a side map.
type node struct {
	name  string
	val   float64
	ver   uint64 // version of the node's own last change
	sub   uint64 // highest version anywhere in the subtree
	kids  map[string]*node
	n     uint32 // samples in the current averaging window
	epoch uint32 // the window n belongs to
	flags uint8
	act   Action
}

// Tree is the concurrent in-memory tree. All methods are safe for
// concurrent use; a reader never sees half a merge.
type Tree struct {
	mu      sync.RWMutex
	root    node
	markers map[*node]string
	// units are the units declared on nodes (pipes, agent modules): few
	// nodes carry one, so they live beside the nodes like markers.
	units   map[*node]string
	nodes   int
	seqs    map[string]uint64 // exactly-once sources: highest batch merged
	durable map[string]uint64 // seqs as of the last snapshot written
	orderMu sync.Mutex
	order   map[*node][]*node // cached child order for readers
	epoch   uint32
	version atomic.Uint64
	// maxNodes caps nodes (0: no cap); refused counts the new nodes a
	// merge wanted past it (ErrFull), for /status and /metrics.
	maxNodes int
	refused  atomic.Uint64
}

// ErrFull is wrapped by the error of a merge that would grow the tree past
// its node limit (SetMaxNodes): the tree never forgets a node, so without a
// cap a stream of distinct keys would grow it until the process dies.
var ErrFull = errors.New("tree is full")

// SetMaxNodes caps the number of nodes (0 or less: no cap). A tree already
// larger keeps its nodes; only new ones are refused.
func (t *Tree) SetMaxNodes(n int) {
	t.mu.Lock()
	t.maxNodes = max(n, 0)
	t.mu.Unlock()
}

// Capacity returns the node limit (0: none) and how many new nodes merges
// were refused so far because of it.
func (t *Tree) Capacity() (maxNodes int, refused uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.maxNodes, t.refused.Load()
}

// New returns an empty tree.
func New() *Tree {
	return &Tree{markers: map[*node]string{}, units: map[*node]string{}, order: map[*node][]*node{}, seqs: map[string]uint64{}, durable: map[string]uint64{}}
}

// Version returns the current global version (0 for an empty tree).
func (t *Tree) Version() uint64 { return t.version.Load() }

// Len returns the number of nodes.
func (t *Tree) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.nodes
}

// Tick starts a new averaging window: the next sample of an average node
// replaces its value, later ones average with it. O(1): windows are compared
// lazily by epoch.
func (t *Tree) Tick() {
	t.mu.Lock()
	t.epoch++
	t.mu.Unlock()
}

// actionSet is a defaultaction (or, with isUnit, a unit) to set at a
// path, part of a push. Units ride with the actions so that every way a
// push is split, joined or forwarded carries them too.
type actionSet struct {
	path   []string
	act    Action
	unit   string
	isUnit bool
}

// MaxUnitBytes bounds a declared unit ("B", "req", "bytes/sec").
const MaxUnitBytes = 64

// Apply merges deltas atomically under one new version; nothing merges if
// any delta is invalid. Numbers merge by the action ruling their path (add
// when none is set).
func (t *Tree) Apply(deltas []Delta) (MergeResult, error) {
	return t.apply(nil, deltas)
}

// ApplyFitting is Apply for a stream that must not stall when the tree is
// full (pipes, sockets): deltas that need new nodes past the limit are
// dropped, in order, instead of refusing the batch, so existing keys keep
// updating. It returns how many deltas were dropped.
func (t *Tree) ApplyFitting(deltas []Delta) (MergeResult, int, error) {
	var dropped int
	res, err := t.applyMode(nil, deltas, nil, nil, &dropped)
	return res, dropped, err
}

// KeyBudgetError is ApplyBudget's refusal: the deltas would create more
// new keys than the writer has left.
type KeyBudgetError struct {
	New, Left int64
}

func (e *KeyBudgetError) Error() string {
	return fmt.Sprintf("would create %d new keys, %d left of its budget", e.New, e.Left)
}

// ApplyBudget is ApplyFitting for a writer allowed to create at most left
// more keys (a pipe's cap): deltas that would create more merge nothing and
// answer a *KeyBudgetError; otherwise the keys they create are taken from
// left. The check and the debit happen under the write lock, so
// concurrent writers sharing a budget never overdraw it.
func (t *Tree) ApplyBudget(deltas []Delta, left *atomic.Int64) (MergeResult, error) {
	var dropped int
	return t.applyMode(nil, deltas, nil, func(created int) error {
		if n := left.Load(); int64(created) > n {
			return &KeyBudgetError{New: int64(created), Left: n}
		}
		left.Add(-int64(created))
		return nil
	}, &dropped)
}

// SetUnit declares the unit of the numbers in the subtree at path ("B",
// "s", "req", or an agent module's Ganglia units), creating the node if
// missing; "" clears it. The nearest unit on or above a node is its unit.
func (t *Tree) SetUnit(path []string, unit string) error {
	_, err := t.apply([]actionSet{{path: path, unit: unit, isUnit: true}}, nil)
	return err
}

// set applies a to n under the write lock.
func (t *Tree) set(n *node, a actionSet) {
	switch {
	case !a.isUnit:
		n.act, n.flags = a.act, n.flags|flagAction
	case a.unit == "":
		n.flags &^= flagUnit
		delete(t.units, n)
	default:
		n.flags |= flagUnit
		t.units[n] = a.unit
	}
}

// UnitOf returns the unit declared on path or nearest above it ("" when
// none is).
func (t *Tree) UnitOf(path []string) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	unit, n := "", &t.root
	for _, name := range path {
		if n = n.kids[name]; n == nil {
			break
		}
		if n.flags&flagUnit != 0 {
			unit = t.units[n]
		}
	}
	return unit
}

// SetAction sets the defaultaction ruling the subtree at path, creating the
// node if missing.
func (t *Tree) SetAction(path []string, a Action) error {
	_, err := t.apply([]actionSet{{path: path, act: a}}, nil)
	return err
}

func validPath(p []string) error {
	if len(p) == 0 {
		return fmt.Errorf("empty path")
	}
	for i, n := range p {
		if n == "" {
			return fmt.Errorf("%s: empty name at level %d", key.Join(p), i+1)
		}
	}
	return nil
}

// apply validates everything first, then merges under the write lock.
func (t *Tree) apply(acts []actionSet, deltas []Delta) (MergeResult, error) {
	return t.applyWith(acts, deltas, nil, nil)
}

// applyWith is apply with a gate run under the write lock after validation:
// when it returns false nothing merges (used for exactly-once sources).
// budget, when set, runs next with the number of keys the deltas would
// create; an error from it refuses them all.
func (t *Tree) applyWith(acts []actionSet, deltas []Delta, gate func() bool, budget func(created int) error) (MergeResult, error) {
	return t.applyMode(acts, deltas, gate, budget, nil)
}

// applyMode is applyWith; when dropped is non-nil, deltas over the node
// limit are dropped (and counted there) rather than refusing everything.
func (t *Tree) applyMode(acts []actionSet, deltas []Delta, gate func() bool, budget func(created int) error, dropped *int) (MergeResult, error) {
	for _, a := range acts {
		if err := validPath(a.path); err != nil {
			return MergeResult{}, err
		}
		if a.act > ActionLast {
			return MergeResult{}, fmt.Errorf("%s: unknown defaultaction %d", key.Join(a.path), a.act)
		}
		if len(a.unit) > MaxUnitBytes {
			return MergeResult{}, fmt.Errorf("%s: a unit of %d bytes, longer than %d", key.Join(a.path), len(a.unit), MaxUnitBytes)
		}
	}
	for i := range deltas {
		d := &deltas[i]
		if err := validPath(d.Path); err != nil {
			return MergeResult{}, err
		}
		if !d.IsMarker && (math.IsNaN(d.Value) || math.IsInf(d.Value, 0)) {
			return MergeResult{}, fmt.Errorf("%s: value %v is not a finite number", key.Join(d.Path), d.Value)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Pass 1: find existing targets and refuse kind conflicts (a number
	// where a marker is, or the reverse), also within this batch.
	var pending map[string]bool // new paths in this batch: true = marker
	missing := len(acts) > 0    // some node may be new: check the limit
	for i := range deltas {
		d := &deltas[i]
		n := t.find(d.Path)
		missing = missing || n == nil
		if n != nil {
			if n.flags&flagMarker != 0 && !d.IsMarker {
				return MergeResult{}, fmt.Errorf("%s: a number where a marker is", key.Join(d.Path))
			}
			if n.flags&flagValue != 0 && d.IsMarker {
				return MergeResult{}, fmt.Errorf("%s: a marker where a number is", key.Join(d.Path))
			}
			if n.flags&(flagMarker|flagValue) != 0 {
				continue
			}
		}
		if pending == nil {
			pending = map[string]bool{}
		}
		k := key.Join(d.Path)
		if m, ok := pending[k]; ok && m != d.IsMarker {
			return MergeResult{}, fmt.Errorf("%s: both a number and a marker in one push", k)
		}
		pending[k] = d.IsMarker
	}
	created := len(pending)
	if t.maxNodes > 0 && missing {
		n := len(deltas)
		var err error
		if deltas, err = t.fit(acts, deltas, dropped); err != nil {
			return MergeResult{}, err
		}
		if len(deltas) < n {
			created = 0 // what the kept deltas create
			kept := map[string]bool{}
			for i := range deltas {
				k := key.Join(deltas[i].Path)
				if _, ok := pending[k]; ok && !kept[k] {
					kept[k] = true
					created++
				}
			}
		}
	}
	if gate != nil && !gate() {
		return MergeResult{Version: t.version.Load()}, nil
	}
	if budget != nil {
		if err := budget(created); err != nil {
			return MergeResult{}, err
		}
	}
	// Pass 2: merge. Nothing below can fail.
	v := t.version.Load() + 1
	for _, a := range acts {
		path := t.walk(a.path, v)
		n := path[len(path)-1]
		t.set(n, a)
		n.ver = v
	}
	var res MergeResult
	for i := range deltas {
		d := &deltas[i]
		t.merge(d, v)
		if d.IsMarker {
			res.Markers++
		} else {
			res.Numbers++
		}
	}
	if len(acts) > 0 || len(deltas) > 0 {
		t.version.Store(v)
	}
	res.Version = t.version.Load()
	return res, nil
}

// fit checks the nodes acts and deltas would add against the limit. Over
// it, with dropped nil, it refuses all (ErrFull); else it returns the
// deltas that fit, in order, counting the others in *dropped. Called
// under the write lock.
func (t *Tree) fit(acts []actionSet, deltas []Delta, dropped *int) ([]Delta, error) {
	room := t.maxNodes - t.nodes
	var fresh map[string]struct{} // new paths (and prefixes) counted so far
	var added []string            // the paths the current item added
	count := func(path []string) int {
		n, depth := &t.root, 0
		for ; depth < len(path); depth++ {
			c := n.kids[path[depth]]
			if c == nil {
				break
			}
			n = c
		}
		if depth == len(path) {
			return 0
		}
		if fresh == nil {
			fresh = map[string]struct{}{}
		}
		added = added[:0]
		// From the leaf up: a counted path's prefixes are counted too.
		for j := len(path); j > depth; j-- {
			k := key.Join(path[:j])
			if _, ok := fresh[k]; ok {
				break
			}
			fresh[k] = struct{}{}
			added = append(added, k)
		}
		return len(added)
	}
	want := 0
	for _, a := range acts {
		want += count(a.path)
	}
	if dropped == nil {
		for i := range deltas {
			want += count(deltas[i].Path)
		}
		if want > room {
			t.refused.Add(uint64(want))
			return nil, fmt.Errorf("merge would add %d nodes to %d, over the limit of %d: %w", want, t.nodes, t.maxNodes, ErrFull)
		}
		return deltas, nil
	}
	if want > room {
		t.refused.Add(uint64(want))
		return nil, fmt.Errorf("defaultactions would add %d nodes to %d, over the limit of %d: %w", want, t.nodes, t.maxNodes, ErrFull)
	}
	var kept []Delta // nil until the first drop: no copy while all fit
	for i := range deltas {
		n := count(deltas[i].Path)
		if want+n <= room {
			want += n
			if kept != nil {
				kept = append(kept, deltas[i])
			}
			continue
		}
		for _, k := range added {
			delete(fresh, k) // not added after all
		}
		t.refused.Add(uint64(n))
		*dropped++
		if kept == nil {
			kept = append(make([]Delta, 0, len(deltas)), deltas[:i]...)
		}
	}
	if kept == nil {
		return deltas, nil
	}
	return kept, nil
}

// find returns the node at path, or nil.
func (t *Tree) find(path []string) *node {
	n := &t.root
	for _, name := range path {
		c := n.kids[name]
		if c == nil {
			return nil
		}
		n = c
	}
	return n
}

// walk returns the nodes along path (creating missing ones), stamping each
// with v as a subtree change. The returned slice is only valid until the
// next walk.
func (t *Tree) walk(path []string, v uint64) []*node {
	nodes := make([]*node, 0, len(path))
	n := &t.root
	n.sub = v
	for _, name := range path {
		c := n.kids[name]
		if c == nil {
			c = t.addKid(n, name)
		}
		c.sub = v
		nodes = append(nodes, c)
		n = c
	}
	return nodes
}

// merge applies one validated delta at version v.
func (t *Tree) merge(d *Delta, v uint64) {
	n := &t.root
	n.sub = v
	act := ActionAdd
	for _, name := range d.Path {
		c := n.kids[name]
		if c == nil {
			c = t.addKid(n, name)
		}
		if c.flags&flagAction != 0 {
			act = c.act
		}
		c.sub = v
		n = c
	}
	n.ver = v
	if d.IsMarker {
		n.flags |= flagMarker
		t.markers[n] = d.Marker
		return
	}
	x := d.Value
	k := max(d.Samples, 1)
	if n.flags&flagValue == 0 {
		n.flags |= flagValue
		n.val = x
		n.n, n.epoch = k, t.epoch
		return
	}
	switch act {
	case ActionAdd:
		n.val += x
	case ActionAverage:
		if n.epoch != t.epoch {
			n.epoch, n.n = t.epoch, 0
		}
		n.n += k
		n.val += (x - n.val) * float64(k) / float64(n.n)
	case ActionMax:
		n.val = math.Max(n.val, x)
	case ActionMin:
		n.val = math.Min(n.val, x)
	case ActionLast:
		n.val = x
	}
}

// sortedKids returns n's children in name order. The order is cached per
// node (children are added far less often than read) and dropped when a
// child is added; readers share the cache under orderMu.
func (t *Tree) sortedKids(n *node) []*node {
	t.orderMu.Lock()
	kids, ok := t.order[n]
	t.orderMu.Unlock()
	if ok {
		return kids
	}
	kids = make([]*node, 0, len(n.kids))
	for _, c := range n.kids {
		kids = append(kids, c)
	}
	slices.SortFunc(kids, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	t.orderMu.Lock()
	t.order[n] = kids
	t.orderMu.Unlock()
	return kids
}

// addKid adds a new child under the write lock.
func (t *Tree) addKid(n *node, name string) *node {
	if n.kids == nil {
		n.kids = make(map[string]*node, 1)
	}
	c := &node{name: name}
	n.kids[name] = c
	t.nodes++
	if len(t.order) > 0 {
		delete(t.order, n) // no reader runs while the write lock is held
	}
	return c
}

// ActionsOf appends to dst the defaultaction that rules each delta's path,
// the one a merge would use: a caller that records deltas elsewhere as
// well (the trend store dating late lines) tells counters from gauges.
func (t *Tree) ActionsOf(dst []Action, ds []Delta) []Action {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := range ds {
		act := ActionAdd
		n := &t.root
		for _, name := range ds[i].Path {
			if n = n.kids[name]; n == nil {
				break
			}
			if n.flags&flagAction != 0 {
				act = n.act
			}
		}
		dst = append(dst, act)
	}
	return dst
}
