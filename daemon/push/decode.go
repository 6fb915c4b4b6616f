// Package push is the one decoder of canopy's push wire format, used by
// HTTP (daemon/api), the push sockets (daemon/listen) and the relay
// (daemon/relay): the seed's nested JSON (a list of such objects too),
// form fields and raw bodies, JSON socket lines, the limits a push is
// checked against, and the deltas encoding relays forward. It decodes;
// daemon/tree merges what it decoded.
//
// The JSON shape: an object (or a list of objects) of top-level subtrees
// with optionally the "defaultaction" for them. Inside
// a subtree, "" is a node's own number (or marker), "defaultaction" sets
// the action for that subtree and "defaultunit" declares the unit of its
// numbers (metadata for readers: "B", "s", "req", Ganglia's units).
// Numbers are JSON numbers; strings are markers.
package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Decoder decodes JSON pushes, reusing its parsers and buffers from push
// to push. The zero value is ready; a Decoder is safe for concurrent use.
type Decoder struct {
	// parsers keep the values of their last document, so a fresh one per
	// push allocates (and clears) that space every time. Nothing parsed is
	// kept past a walk: names and markers are copied out.
	parsers fastjson.ParserPool
	// states are the pushes of Merge and MergeFrom, which drop them after
	// merging: once a large batch's deltas and path arena have been
	// allocated, the next batches reuse them, and the collector, with its
	// write barriers, runs far less often.
	states sync.Pool
}

// state is one push being decoded and the space kept for reuse: the last
// path arena chunk and its unused end, and the names read lately.
type state struct {
	p            *tree.Push
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

func (d *Decoder) getState() *state {
	if st, ok := d.states.Get().(*state); ok {
		return st
	}
	return &state{p: &tree.Push{}}
}

// putState recycles st, which nobody may use after. Its deltas are kept as
// they are (clearing them costs more than the few strings they hold on to).
func (d *Decoder) putState(st *state) {
	if cap(st.p.Deltas) > 1<<20 {
		return // a freak: let it go
	}
	st.p.Reset()
	st.arena = st.chunk[:0]
	d.states.Put(st)
}

// Decode decodes a JSON push. The error names the offending path.
func (d *Decoder) Decode(data []byte) (*tree.Push, error) {
	st := &state{p: &tree.Push{}}
	if _, err := d.walk(data, st, nil); err != nil {
		return nil, err
	}
	return st.p, nil
}

// Target is where a decoded push merges: a *tree.Tree, or what stands in
// for one (a relay's queues).
type Target interface {
	Merge(p *tree.Push) (tree.MergeResult, error)
}

// Merge decodes a JSON push and merges it into t. Atomic: a push with any
// invalid part merges nothing, and the error names the offending path.
func (d *Decoder) Merge(t Target, data []byte) (tree.MergeResult, error) {
	st := d.getState()
	defer d.putState(st)
	if _, err := d.walk(data, st, nil); err != nil {
		return tree.MergeResult{}, err
	}
	return t.Merge(st.p)
}

// MergeFrom decodes a JSON push and merges it into t exactly once as
// numbers first..last of source (tree.MergeFrom).
func (d *Decoder) MergeFrom(t *tree.Tree, source string, first, last uint64, data []byte) (tree.MergeResult, bool, error) {
	st := d.getState()
	defer d.putState(st)
	if _, err := d.walk(data, st, nil); err != nil {
		return tree.MergeResult{}, false, err
	}
	return t.MergeFrom(source, first, last, st.p)
}

// Decode decodes a JSON push with a Decoder of its own (see Decoder.Decode).
func Decode(data []byte) (*tree.Push, error) { return new(Decoder).Decode(data) }

// Merge decodes a JSON push into t with a Decoder of its own (see
// Decoder.Merge); code that merges often keeps a Decoder.
func Merge(t Target, data []byte) (tree.MergeResult, error) { return new(Decoder).Merge(t, data) }

// walker is the state of one walk over a push document: into st when set
// (paths come from a shared arena, one allocation per many deltas), else
// only checked and counted.
type walker struct {
	p            *tree.Push
	chunk, arena []string
	deltas       int
	names        *nameCache
	num          []byte
}

// walk checks data as a push and, when st is set, fills st.p. With member
// set it calls member for every top-level member of every object, in
// order: the object's index (0 for a single object, else its list
// position) and the member's name as read (defaultaction included). It
// returns the number of deltas.
func (d *Decoder) walk(data []byte, st *state, member func(obj int, name string)) (int, error) {
	w := &walker{}
	if st != nil {
		p := st.p
		w.p = p
		// Every delta is a member ("name":value), so colons bound the count;
		// sizing once saves growing a large batch again and again.
		if n := min(bytes.Count(data, []byte{':'}), len(data)/4+1); cap(p.Deltas)-len(p.Deltas) < n {
			p.Deltas = slices.Grow(p.Deltas, n)
		}
		if st.names == nil && len(data) >= 4<<10 {
			// (a small push has too few names to repeat them much)
			st.names = &nameCache{seed: maphash.MakeSeed()}
		}
		w.chunk, w.arena, w.names = st.chunk, st.arena, st.names
		defer func() { st.chunk, st.arena = w.chunk, w.arena[len(w.arena):] }()
	}
	if !utf8.Valid(data) {
		// JSON is UTF-8 (RFC 8259); a name or marker made valid would not
		// be what the sender meant, so the push is refused whole.
		return 0, fmt.Errorf("push is not valid UTF-8 (first bad byte at offset %d)", invalidUTF8At(data))
	}
	parser := d.parsers.Get()
	defer d.parsers.Put(parser)
	if st != nil && member == nil {
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
					st.p.Reset()
					return d.walk(data[:len(data):len(data)], st, func(int, string) {})
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

// jsonError explains invalid JSON the way encoding/json does ("unexpected
// EOF", "invalid character 'x' after object key"), which reads better than
// the fast parser's chain of "cannot parse" messages; only the error path
// pays for the second parse.
func jsonError(data []byte, fast error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("push is not valid JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("push has data after the JSON value")
	}
	return fmt.Errorf("push is not valid JSON: %w", fast)
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
func (w *walker) name(b []byte) string {
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
func (w *walker) path(parent []string, name string) []string {
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

// object handles one top-level object: roots plus their defaultaction
// (a unit is declared inside a subtree: a relay routes top-level names).
func (w *walker) object(v *fastjson.Value, idx int, member func(obj int, name string)) error {
	obj, _ := v.Object()
	if raw := obj.Get("defaultaction"); raw != nil {
		a, err := parseActionValue(raw, "defaultaction")
		if err != nil {
			return err
		}
		if w.p != nil {
			obj.Visit(func(name []byte, _ *fastjson.Value) {
				if string(name) != "defaultaction" {
					w.p.AddAction(w.path(nil, w.name(name)), a)
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
		case len(name) > MaxNameBytes:
			err = nameTooLong(nil, name)
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

// MaxNameBytes bounds one name (one level of a key) in a push: longer
// ones are refused, so a hostile push cannot make every key, trend series
// and answer that holds the name that large. Generated names (URL paths,
// hosts) are cut far shorter by the pipes.
const MaxNameBytes = 1024

func nameTooLong(parent []string, name []byte) error {
	where := "top level"
	if parent != nil {
		where = key.Join(parent)
	}
	return fmt.Errorf("%s: a name of %d bytes (%q…), longer than %d", where, len(name), name[:16], MaxNameBytes)
}

// invalidUTF8At is the offset of the first byte of data that is not UTF-8.
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// validUTF8 keeps names and markers valid UTF-8 (as JSON output must be):
// invalid bytes become U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func parseUnitValue(raw *fastjson.Value, where string) (string, error) {
	s, err := raw.StringBytes()
	if err != nil {
		return "", fmt.Errorf("%s: defaultunit is %s, want a string", where, jsonKind(raw))
	}
	if len(s) > tree.MaxUnitBytes {
		return "", fmt.Errorf("%s: defaultunit of %d bytes, longer than %d", where, len(s), tree.MaxUnitBytes)
	}
	return validUTF8(s), nil
}

func parseActionValue(raw *fastjson.Value, where string) (tree.Action, error) {
	s, err := raw.StringBytes()
	if err != nil {
		return 0, fmt.Errorf("%s: defaultaction is %s, want a string", where, jsonKind(raw))
	}
	a, err := tree.ParseAction(string(s))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	return a, nil
}

// value handles the JSON value at path. When only checking (w.p nil), path
// is nil and errors carry no path: the caller parses again for the message.
func (w *walker) value(path []string, v *fastjson.Value) error {
	switch v.Type() {
	case fastjson.TypeNumber:
		f, err := w.number(v)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("%s: value %s is not a finite number", key.Join(path), v)
		}
		w.deltas++
		if w.p != nil {
			w.p.Deltas = append(w.p.Deltas, tree.Delta{Path: path, Value: f})
		}
	case fastjson.TypeString:
		w.deltas++
		if w.p != nil {
			s, _ := v.StringBytes()
			w.p.Deltas = append(w.p.Deltas, tree.Delta{Path: path, Marker: validUTF8(s), IsMarker: true})
		}
	case fastjson.TypeObject:
		obj, _ := v.Object()
		if raw := obj.Get("defaultaction"); raw != nil {
			a, err := parseActionValue(raw, key.Join(path))
			if err != nil {
				return err
			}
			if w.p != nil {
				w.p.AddAction(path, a)
			}
		}
		if raw := obj.Get("defaultunit"); raw != nil {
			u, err := parseUnitValue(raw, key.Join(path))
			if err != nil {
				return err
			}
			if w.p != nil {
				w.p.AddUnit(path, u)
			}
		}
		var err error
		obj.Visit(func(name []byte, child *fastjson.Value) {
			if err != nil {
				return
			}
			switch string(name) {
			case "defaultaction", "defaultunit":
				return
			case "":
				if child.Type() == fastjson.TypeObject {
					err = fmt.Errorf("%s: the own value \"\" must be a number or marker, not an object", key.Join(path))
					return
				}
				err = w.value(path, child)
				return
			}
			if len(name) > MaxNameBytes {
				err = nameTooLong(path, name)
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
		return fmt.Errorf("%s: value %s is not a number or marker string", key.Join(path), jsonText(v))
	}
	return nil
}

// number returns the value of a JSON number, correctly rounded: fastjson's
// own parser rounds a fraction or an exponent twice (1.00802e+06 comes out
// as 1008019.9999999999), so those go through strconv.
func (w *walker) number(v *fastjson.Value) (float64, error) {
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
