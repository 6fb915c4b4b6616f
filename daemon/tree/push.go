package tree

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Push is a parsed, validated push: the defaultactions it sets and the
// deltas it merges.
type Push struct {
	acts   []actionSet
	Deltas []Delta
	// parsing state kept for reuse (see Tree.getPush): the last path arena
	// chunk and its unused end, and the names read lately.
	chunk, arena []string
	names        *nameCache
}

// nameCache holds names recently read, by a hash of their bytes: pushes
// repeat names (the same metrics under every host, the same keys in every
// item of a relay's batch), and a hit costs no allocation.
// Two slots per hash, so that names that collide do not evict each other
// on every use.
type nameCache struct {
	seed  maphash.Seed
	slots [1024]string
}

// getPush returns a Push from the tree's pool. Pushes are reused by the
// merges that parse a push and drop it after (MergeJSON, MergeJSONFrom):
// once a large batch's deltas and path arena have been allocated, the next
// batches reuse them, and the collector, with its write barriers, runs far
// less often.
func (t *Tree) getPush() *Push {
	if p, ok := t.pushes.Get().(*Push); ok {
		return p
	}
	return &Push{}
}

// putPush recycles p, which nobody may use after. Its deltas are kept as
// they are (clearing them costs more than the few strings they hold on to).
func (t *Tree) putPush(p *Push) {
	if cap(p.Deltas) > 1<<20 {
		return // a freak: let it go
	}
	p.acts, p.Deltas, p.arena = p.acts[:0], p.Deltas[:0], p.chunk[:0]
	t.pushes.Put(p)
}

// ParsePush parses the seed's push shape: an object, or a list of objects,
// each holding top-level subtrees and optionally the "defaultaction" for
// them. Inside a subtree, "" is a node's own number (or marker) and
// "defaultaction" sets the action for that subtree. Numbers are JSON numbers;
// strings are markers. The error names the offending path.
func ParsePush(data []byte) (*Push, error) {
	p := &Push{}
	if _, err := walkPush(data, p, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// parsers are reused: a parser keeps the values of its last document, so a
// fresh one per push allocates (and clears) that space every time. Nothing
// parsed is kept past walkPush: names and markers are copied out.
var parsers fastjson.ParserPool

// pushWalk is the state of one walk over a push document: into p when
// set (paths come from a shared arena, one allocation per many deltas),
// else only checked and counted.
type pushWalk struct {
	p            *Push
	chunk, arena []string
	deltas       int
	names        *nameCache
	num          []byte
}

// walkPush checks data as a push and, when p is set, fills p. With member
// set it calls member for every top-level member of every object, in
// order: the object's index (0 for a single object, else its list
// position) and the member's name as read (defaultaction included). It
// returns the number of deltas.
func walkPush(data []byte, p *Push, member func(obj int, name string)) (int, error) {
	w := &pushWalk{p: p}
	if p != nil {
		// Every delta is a member ("name":value), so colons bound the count;
		// sizing once saves growing a large batch again and again.
		if n := min(bytes.Count(data, []byte{':'}), len(data)/4+1); cap(p.Deltas)-len(p.Deltas) < n {
			p.Deltas = slices.Grow(p.Deltas, n)
		}
		if p.names == nil && len(data) >= 4<<10 {
			// (a small push has too few names to repeat them much)
			p.names = &nameCache{seed: maphash.MakeSeed()}
		}
		w.chunk, w.arena, w.names = p.chunk, p.arena, p.names
		defer func() { p.chunk, p.arena = w.chunk, w.arena[len(w.arena):] }()
	}
	parser := parsers.Get()
	defer parsers.Put(parser)
	if p != nil && member == nil {
		// A list (a relay's batch) is parsed an item at a time, so the
		// parser's space is that of an item, not of the whole. Any error
		// is taken from parsing the whole, which reports it the same way
		// whatever the split.
		if items := listItems(data); len(items) > 1 {
			for i, item := range items {
				v, err := parser.ParseBytes(item)
				if err == nil && v.Type() == fastjson.TypeObject {
					err = w.object(v, i, nil)
				}
				if err != nil {
					*p = Push{}
					return walkPush(data[:len(data):len(data)], p, func(int, string) {})
				}
			}
			return w.deltas, nil
		}
	}
	v, err := parser.ParseBytes(data)
	if err != nil {
		return 0, jsonError(data, err)
	}
	switch v.Type() {
	case fastjson.TypeObject:
		if err := w.object(v, 0, member); err != nil {
			return 0, err
		}
	case fastjson.TypeArray:
		items, _ := v.Array()
		for i, item := range items {
			if item.Type() != fastjson.TypeObject {
				return 0, fmt.Errorf("push list item %d is %s, want an object", i, jsonKind(item))
			}
			if err := w.object(item, i, member); err != nil {
				return 0, err
			}
		}
	default:
		return 0, fmt.Errorf("push is %s, want an object or a list of objects", jsonKind(v))
	}
	return w.deltas, nil
}

// listItems returns the items of data when it looks like a list of
// objects, else nil. It only finds where the items are: each is parsed
// after.
func listItems(data []byte) [][]byte {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil
	}
	var items [][]byte
	for i = skipWS(data, i+1); i < len(data) && data[i] == '{'; {
		end := skipValue(data, i)
		if end < 0 {
			return nil
		}
		items = append(items, data[i:end])
		if i = skipWS(data, end); i >= len(data) {
			return nil
		}
		switch data[i] {
		case ']':
			if skipWS(data, i+1) != len(data) {
				return nil
			}
			return items
		case ',':
			i = skipWS(data, i+1)
		default:
			return nil
		}
	}
	return nil
}

// name returns b as a name: valid UTF-8, and the same string as the last
// time these bytes were read when the cache still holds it.
func (w *pushWalk) name(b []byte) string {
	if len(b) > 64 || w.names == nil {
		return validUTF8(b)
	}
	i := maphash.Bytes(w.names.seed, b) % uint64(len(w.names.slots)) &^ 1
	pair := w.names.slots[i : i+2 : i+2]
	if pair[0] == string(b) {
		return pair[0]
	}
	if pair[1] == string(b) {
		pair[0], pair[1] = pair[1], pair[0] // the last used first
		return pair[0]
	}
	s := validUTF8(b)
	if s == string(b) { // (a name made valid is not what its bytes say)
		pair[0], pair[1] = s, pair[0]
	}
	return s
}

// path returns parent + name, from the arena.
func (w *pushWalk) path(parent []string, name string) []string {
	n := len(parent) + 1
	if cap(w.arena)-len(w.arena) < n {
		// The next chunk is twice the last: a reused push soon has one
		// chunk large enough for a whole batch.
		w.chunk = make([]string, 0, max(4096, n, min(2*cap(w.chunk), 1<<21)))
		w.arena = w.chunk
	}
	i := len(w.arena)
	w.arena = append(w.arena, parent...)
	w.arena = append(w.arena, name)
	return w.arena[i : i+n : i+n]
}

// object handles one top-level object: roots plus their defaultaction.
func (w *pushWalk) object(v *fastjson.Value, idx int, member func(obj int, name string)) error {
	obj, _ := v.Object()
	if raw := obj.Get("defaultaction"); raw != nil {
		a, err := parseActionValue(raw, "defaultaction")
		if err != nil {
			return err
		}
		if w.p != nil {
			obj.Visit(func(name []byte, _ *fastjson.Value) {
				if string(name) != "defaultaction" {
					w.p.acts = append(w.p.acts, actionSet{path: w.path(nil, w.name(name)), act: a})
				}
			})
		}
	}
	var err error
	obj.Visit(func(name []byte, val *fastjson.Value) {
		if err != nil {
			return
		}
		if member != nil {
			member(idx, validUTF8(name))
		}
		switch {
		case string(name) == "defaultaction":
		case len(name) == 0:
			err = fmt.Errorf("top level: empty name (an empty segment is a wildcard, never a node)")
		case w.p == nil:
			err = w.value(nil, val)
		default:
			err = w.value(w.path(nil, w.name(name)), val)
		}
	})
	return err
}

// validUTF8 keeps names and markers valid UTF-8 (as JSON output must be):
// invalid bytes become U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func parseActionValue(raw *fastjson.Value, where string) (Action, error) {
	s, err := raw.StringBytes()
	if err != nil {
		return 0, fmt.Errorf("%s: defaultaction is %s, want a string", where, jsonKind(raw))
	}
	a, err := ParseAction(string(s))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	return a, nil
}

// value handles the JSON value at path. When only checking (w.p nil), path
// is nil and errors carry no path: the caller parses again for the message.
func (w *pushWalk) value(path []string, v *fastjson.Value) error {
	switch v.Type() {
	case fastjson.TypeNumber:
		f, err := w.number(v)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("%s: value %s is not a finite number", JoinKey(path), v)
		}
		w.deltas++
		if w.p != nil {
			w.p.Deltas = append(w.p.Deltas, Delta{Path: path, Value: f})
		}
	case fastjson.TypeString:
		w.deltas++
		if w.p != nil {
			s, _ := v.StringBytes()
			w.p.Deltas = append(w.p.Deltas, Delta{Path: path, Marker: validUTF8(s), IsMarker: true})
		}
	case fastjson.TypeObject:
		obj, _ := v.Object()
		if raw := obj.Get("defaultaction"); raw != nil {
			a, err := parseActionValue(raw, JoinKey(path))
			if err != nil {
				return err
			}
			if w.p != nil {
				w.p.acts = append(w.p.acts, actionSet{path: path, act: a})
			}
		}
		var err error
		obj.Visit(func(name []byte, child *fastjson.Value) {
			if err != nil {
				return
			}
			switch string(name) {
			case "defaultaction":
				return
			case "":
				if child.Type() == fastjson.TypeObject {
					err = fmt.Errorf("%s: the own value \"\" must be a number or marker, not an object", JoinKey(path))
					return
				}
				err = w.value(path, child)
				return
			}
			if w.p == nil {
				err = w.value(nil, child)
				return
			}
			err = w.value(w.path(path, w.name(name)), child)
		})
		return err
	default:
		return fmt.Errorf("%s: value %s is not a number or marker string", JoinKey(path), jsonText(v))
	}
	return nil
}

// number returns the value of a JSON number, correctly rounded: fastjson's
// own parser rounds a fraction or an exponent twice (1.00802e+06 comes out
// as 1008019.9999999999), so those go through strconv.
func (w *pushWalk) number(v *fastjson.Value) (float64, error) {
	raw := v.MarshalTo(w.num[:0])
	w.num = raw[:0] // the text is copied into one buffer per walk
	if bytes.ContainsAny(raw, ".eE") {
		return strconv.ParseFloat(string(raw), 64)
	}
	return v.Float64()
}

func jsonKind(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeNull:
		return "null"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "a boolean"
	case fastjson.TypeNumber:
		return "a number"
	case fastjson.TypeString:
		return "a string"
	case fastjson.TypeArray:
		return "a list"
	default:
		return "an object"
	}
}

func jsonText(v *fastjson.Value) string {
	b := v.MarshalTo(nil)
	if len(b) > 40 {
		return jsonKind(v)
	}
	return string(b)
}

// PushMember is one top-level member of a push object, as sent.
type PushMember struct {
	Object int    // its object: 0 for a single object, else the list position
	Name   string // the name as ParsePush reads it ("defaultaction" too)
	Raw    []byte // `"name": value`, the bytes of the document
}

// ScanPush checks data exactly as ParsePush does, without building the
// push, and returns its top-level members in order and the number of
// deltas it holds. A relay sharding by top-level name forwards members as
// they came instead of re-encoding parsed deltas. Raw slices point into data.
func ScanPush(data []byte) ([]PushMember, int, error) {
	var members []PushMember
	n, err := walkPush(data, nil, func(obj int, name string) {
		members = append(members, PushMember{Object: obj, Name: name})
	})
	if err != nil {
		// The check walk keeps no paths; the parse names the offending one.
		if _, perr := ParsePush(data); perr != nil {
			return nil, 0, perr
		}
		return nil, 0, err
	}
	i := 0
	ok := rawMembers(data, func(obj int, raw []byte) bool {
		if i >= len(members) || members[i].Object != obj {
			return false
		}
		members[i].Raw = raw
		i++
		return true
	})
	if !ok || i != len(members) {
		return nil, 0, fmt.Errorf("push: cannot find the members of the parsed document")
	}
	return members, n, nil
}

// rawMembers calls fn with the bytes of every top-level member of the push
// objects in data, which has been parsed as JSON already. It stops and
// returns false when fn does, or when data is not shaped as expected.
func rawMembers(data []byte, fn func(obj int, raw []byte) bool) bool {
	i := skipWS(data, 0)
	if i >= len(data) {
		return false
	}
	switch data[i] {
	case '{':
		end := rawObject(data, i, 0, fn)
		return end > 0 && skipWS(data, end) == len(data)
	case '[':
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == ']' {
			return true
		}
		for obj := 0; ; obj++ {
			if i >= len(data) || data[i] != '{' {
				return false
			}
			if i = rawObject(data, i, obj, fn); i < 0 {
				return false
			}
			if i = skipWS(data, i); i >= len(data) {
				return false
			}
			if data[i] == ']' {
				return skipWS(data, i+1) == len(data)
			}
			if data[i] != ',' {
				return false
			}
			i = skipWS(data, i+1)
		}
	}
	return false
}

// rawObject reads the object starting at data[i] ('{') and returns the
// index after it, or -1.
func rawObject(data []byte, i, obj int, fn func(int, []byte) bool) int {
	if i = skipWS(data, i+1); i < len(data) && data[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return -1
		}
		start := i
		if i = skipString(data, i); i < 0 {
			return -1
		}
		if i = skipWS(data, i); i >= len(data) || data[i] != ':' {
			return -1
		}
		if i = skipValue(data, skipWS(data, i+1)); i < 0 {
			return -1
		}
		if !fn(obj, data[start:i]) {
			return -1
		}
		if i = skipWS(data, i); i >= len(data) {
			return -1
		}
		switch data[i] {
		case '}':
			return i + 1
		case ',':
			i = skipWS(data, i+1)
		default:
			return -1
		}
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	return i
}

// Bytes the raw scanners stop at (tables: a relay scans every byte it
// forwards).
var (
	stringStops = [256]bool{'"': true, '\\': true}
	nestStops   = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}
)

// jsonEscapes are the bytes encoding/json writes other than as themselves
// (controls, quote, backslash, HTML characters; bytes >= 0x80 may be
// invalid UTF-8): appendJSONString hands a string with one to json.Marshal.
var jsonEscapes = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&'
	}
	return t
}()

// skipString returns the index after the string starting at data[i] ('"').
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		for j < len(data) && !stringStops[data[j]] {
			j++
		}
		if j == len(data) {
			break
		}
		if data[j] == '"' {
			return j + 1
		}
		j++ // the escaped byte
	}
	return -1
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			for j < len(data) && !nestStops[data[j]] {
				j++
			}
			if j == len(data) {
				break
			}
			switch data[j] {
			case '"':
				if j = skipString(data, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i // a number, true, false or null
	for j < len(data) && data[j] != ',' && data[j] != '}' && data[j] != ']' && data[j] > ' ' {
		j++
	}
	return j
}

// Merge merges a parsed push atomically under one version.
func (t *Tree) Merge(p *Push) (MergeResult, error) {
	return t.apply(p.acts, p.Deltas)
}

// MergeJSON parses and merges a push. Atomic: a push with any invalid part
// merges nothing, and the error names the offending path.
func (t *Tree) MergeJSON(data []byte) (MergeResult, error) {
	p := t.getPush()
	defer t.putPush(p)
	if _, err := walkPush(data, p, nil); err != nil {
		return MergeResult{}, err
	}
	return t.Merge(p)
}

// MergeJSONFrom parses a push and merges it exactly once as numbers
// first..last of source, like MergeFrom.
func (t *Tree) MergeJSONFrom(source string, first, last uint64, data []byte) (MergeResult, bool, error) {
	p := t.getPush()
	defer t.putPush(p)
	if _, err := walkPush(data, p, nil); err != nil {
		return MergeResult{}, false, err
	}
	return t.MergeFrom(source, first, last, p)
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

// MarshalJSON encodes p in the push shape ParsePush reads, so that merging
// the result merges exactly p. It streams sorted paths into nested objects
// (no maps); a path that occurs more than once goes into a further object
// of the list, since a JSON object holds a name once.
func (p *Push) MarshalJSON() ([]byte, error) {
	items := make([]pushItem, 0, len(p.acts)+len(p.Deltas))
	for i := range p.acts {
		items = append(items, pushItem{path: p.acts[i].path, act: &p.acts[i]})
	}
	for i := range p.Deltas {
		items = append(items, pushItem{path: p.Deltas[i].Path, delta: &p.Deltas[i]})
	}
	slices.SortStableFunc(items, comparePushItems)
	// Repeats of one path (and kind) go to later objects: layer k holds
	// the k-th occurrence.
	layers := 1
	for i := 1; i < len(items); i++ {
		if comparePushItems(items[i-1], items[i]) == 0 {
			items[i].layer = items[i-1].layer + 1
			layers = max(layers, items[i].layer+1)
		}
	}
	buf := make([]byte, 0, 32*len(items)+16)
	buf = append(buf, '[')
	for l := 0; l < layers; l++ {
		if l > 0 {
			buf = append(buf, ',')
		}
		var layer []pushItem
		if layers == 1 {
			layer = items
		} else {
			for _, it := range items {
				if it.layer == l {
					layer = append(layer, it)
				}
			}
		}
		buf = appendPushObject(buf, layer)
	}
	return append(buf, ']'), nil
}

type pushItem struct {
	path  []string
	act   *actionSet
	delta *Delta
	layer int
}

// comparePushItems orders by path, segment by segment (a node before its
// children), then defaultactions before values.
func comparePushItems(a, b pushItem) int {
	if c := slices.Compare(a.path, b.path); c != 0 {
		return c
	}
	switch {
	case a.act != nil && b.act == nil:
		return -1
	case a.act == nil && b.act != nil:
		return 1
	}
	return 0
}

// appendPushObject writes items (sorted, each path once per kind) as one
// nested object.
func appendPushObject(buf []byte, items []pushItem) []byte {
	buf = append(buf, '{')
	var open []string     // names of the objects open below the top level
	first := []bool{true} // whether each open object is still empty
	member := func(name string) {
		if !first[len(first)-1] {
			buf = append(buf, ',')
		}
		first[len(first)-1] = false
		buf = appendJSONString(buf, name)
		buf = append(buf, ':')
	}
	for i, it := range items {
		// Close objects that are not on this item's path.
		common := 0
		for common < len(open) && common < len(it.path) && open[common] == it.path[common] {
			common++
		}
		for len(open) > common {
			buf = append(buf, '}')
			open, first = open[:len(open)-1], first[:len(first)-1]
		}
		rest := it.path[len(open):]
		for _, name := range rest[:max(len(rest)-1, 0)] {
			member(name)
			buf = append(buf, '{')
			open, first = append(open, name), append(first, true)
		}
		if len(rest) > 0 {
			last := rest[len(rest)-1]
			// The node needs an object when more items are at or below it,
			// or when it carries a defaultaction.
			holds := it.act != nil || i+1 < len(items) && hasPrefix(items[i+1].path, it.path)
			member(last)
			if !holds {
				buf = appendPushValue(buf, it.delta)
				continue
			}
			buf = append(buf, '{')
			open, first = append(open, last), append(first, true)
		}
		if it.act != nil {
			member("defaultaction")
			buf = appendJSONString(buf, it.act.act.String())
		} else {
			member("")
			buf = appendPushValue(buf, it.delta)
		}
	}
	for range open {
		buf = append(buf, '}')
	}
	return append(buf, '}')
}

func hasPrefix(path, prefix []string) bool {
	return len(path) >= len(prefix) && slices.Equal(path[:len(prefix)], prefix)
}

func appendPushValue(buf []byte, d *Delta) []byte {
	if d.IsMarker {
		return appendJSONString(buf, d.Marker)
	}
	return strconv.AppendFloat(buf, d.Value, 'g', -1, 64)
}

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
	t.order = map[*node][]*node{}
	t.nodes = 0
	for _, a := range p.acts {
		path := t.walk(a.path, t.root.sub)
		n := path[len(path)-1]
		n.act, n.flags = a.act, n.flags|flagAction
	}
	return p
}

// Actions calls fn with every defaultaction p sets, in order.
func (p *Push) Actions(fn func(path []string, a Action)) {
	for _, a := range p.acts {
		fn(a.path, a.act)
	}
}

// AddAction makes p also set the defaultaction at path.
func (p *Push) AddAction(path []string, a Action) {
	p.acts = append(p.acts, actionSet{path: path, act: a})
}
