package push

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/canopy-dev/canopy/daemon/tree"
)

// Marshal encodes p in the JSON push shape Decode reads, so that merging
// the result merges exactly p. It streams sorted paths into nested objects
// (no maps); a path that occurs more than once goes into a further object
// of the list, since a JSON object holds a name once.
func Marshal(p *tree.Push) []byte {
	items := make([]pushItem, 0, p.Len())
	p.Actions(func(path []string, a tree.Action) {
		items = append(items, pushItem{path: path, kind: itemAction, act: a})
	})
	p.Units(func(path []string, u string) {
		items = append(items, pushItem{path: path, kind: itemUnit, unit: u})
	})
	for i := range p.Deltas {
		items = append(items, pushItem{path: p.Deltas[i].Path, kind: itemDelta, delta: &p.Deltas[i]})
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
	return append(buf, ']')
}

// An item is a defaultaction, a defaultunit or a value, in that order at
// one path.
const (
	itemAction = iota
	itemUnit
	itemDelta
)

type pushItem struct {
	path  []string
	kind  int
	act   tree.Action // itemAction
	unit  string      // itemUnit
	delta *tree.Delta // itemDelta
	layer int
}

// comparePushItems orders by path, segment by segment (a node before its
// children), then by kind.
func comparePushItems(a, b pushItem) int {
	if c := slices.Compare(a.path, b.path); c != 0 {
		return c
	}
	return a.kind - b.kind
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
		buf = appendString(buf, name)
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
			// or when it carries a defaultaction or defaultunit.
			holds := it.kind != itemDelta || i+1 < len(items) && hasPrefix(items[i+1].path, it.path)
			member(last)
			if !holds {
				buf = appendPushValue(buf, it.delta)
				continue
			}
			buf = append(buf, '{')
			open, first = append(open, last), append(first, true)
		}
		switch it.kind {
		case itemAction:
			member("defaultaction")
			buf = appendString(buf, it.act.String())
		case itemUnit:
			member("defaultunit")
			buf = appendString(buf, it.unit)
		default:
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

func appendPushValue(buf []byte, d *tree.Delta) []byte {
	if d.IsMarker {
		return appendString(buf, d.Marker)
	}
	return strconv.AppendFloat(buf, d.Value, 'g', -1, 64)
}

// appendString appends s as a JSON string, byte for byte as encoding/json
// writes it (HTML characters escaped too).
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
