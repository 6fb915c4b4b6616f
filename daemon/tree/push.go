package tree

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Push is a parsed, validated push: the defaultactions it sets and the
// deltas it merges.
type Push struct {
	acts   []actionSet
	Deltas []Delta
}

// ParsePush parses the seed's push shape: an object, or a list of objects,
// each holding top-level subtrees and optionally the "defaultaction" for
// them. Inside a subtree, "" is a node's own number (or marker) and
// "defaultaction" sets the action for that subtree. Numbers are JSON numbers;
// strings are markers. The error names the offending path.
func ParsePush(data []byte) (*Push, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("push is not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("push has data after the JSON value")
	}
	p := &Push{}
	switch top := v.(type) {
	case map[string]any:
		if err := p.object(top); err != nil {
			return nil, err
		}
	case []any:
		for i, item := range top {
			obj, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("push list item %d is %s, want an object", i, jsonKind(item))
			}
			if err := p.object(obj); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("push is %s, want an object or a list of objects", jsonKind(v))
	}
	return p, nil
}

// object handles one top-level object: roots plus their defaultaction.
func (p *Push) object(obj map[string]any) error {
	if raw, ok := obj["defaultaction"]; ok {
		a, err := parseActionValue(raw, "defaultaction")
		if err != nil {
			return err
		}
		for name := range obj {
			if name != "defaultaction" {
				p.acts = append(p.acts, actionSet{path: []string{name}, act: a})
			}
		}
	}
	for name, val := range obj {
		if name == "defaultaction" {
			continue
		}
		if name == "" {
			return fmt.Errorf("top level: empty name (an empty segment is a wildcard, never a node)")
		}
		if err := p.value([]string{name}, val); err != nil {
			return err
		}
	}
	return nil
}

func parseActionValue(raw any, where string) (Action, error) {
	s, ok := raw.(string)
	if !ok {
		return 0, fmt.Errorf("%s: defaultaction is %s, want a string", where, jsonKind(raw))
	}
	a, err := ParseAction(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	return a, nil
}

// value handles the JSON value at path.
func (p *Push) value(path []string, v any) error {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return fmt.Errorf("%s: value %s is not a finite number", JoinKey(path), x)
		}
		p.Deltas = append(p.Deltas, Delta{Path: path, Value: f})
	case string:
		p.Deltas = append(p.Deltas, Delta{Path: path, Marker: x, IsMarker: true})
	case map[string]any:
		if raw, ok := x["defaultaction"]; ok {
			a, err := parseActionValue(raw, JoinKey(path))
			if err != nil {
				return err
			}
			p.acts = append(p.acts, actionSet{path: path, act: a})
		}
		for name, child := range x {
			switch name {
			case "defaultaction":
				continue
			case "":
				if _, isObj := child.(map[string]any); isObj {
					return fmt.Errorf("%s: the own value \"\" must be a number or marker, not an object", JoinKey(path))
				}
				if err := p.value(path, child); err != nil {
					return err
				}
				continue
			}
			cp := make([]string, len(path)+1)
			copy(cp, path)
			cp[len(path)] = name
			if err := p.value(cp, child); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: value %s is not a number or marker string", JoinKey(path), jsonText(v))
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	default:
		return "an object"
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 40 {
		return jsonKind(v)
	}
	return string(b)
}

// Merge merges a parsed push atomically under one version.
func (t *Tree) Merge(p *Push) (MergeResult, error) {
	return t.apply(p.acts, p.Deltas)
}

// MergeJSON parses and merges a push. Atomic: a push with any invalid part
// merges nothing, and the error names the offending path.
func (t *Tree) MergeJSON(data []byte) (MergeResult, error) {
	p, err := ParsePush(data)
	if err != nil {
		return MergeResult{}, err
	}
	return t.Merge(p)
}

// Len returns the number of deltas and defaultactions in p.
func (p *Push) Len() int { return len(p.acts) + len(p.Deltas) }

// Filter returns the part of p that keep accepts, by path: how a relay
// splits a push between shards. A defaultaction is offered to keep with its
// own path.
func (p *Push) Filter(keep func(path []string) bool) *Push {
	out := &Push{}
	for _, a := range p.acts {
		if keep(a.path) {
			out.acts = append(out.acts, a)
		}
	}
	for _, d := range p.Deltas {
		if keep(d.Path) {
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
// the result merges exactly p. Deltas to a path already used go into a
// further object of the list, since a JSON object holds a name once.
func (p *Push) MarshalJSON() ([]byte, error) {
	var objs []map[string]any
	// place puts v at path in the first object where the slot is free.
	place := func(path []string, v any, action bool) {
		for i := 0; ; i++ {
			if i == len(objs) {
				objs = append(objs, map[string]any{})
			}
			if setIn(objs[i], path, v, action) {
				return
			}
		}
	}
	for _, a := range p.acts {
		place(a.path, a.act.String(), true)
	}
	for _, d := range p.Deltas {
		var v any = d.Value
		if d.IsMarker {
			v = d.Marker
		}
		place(d.Path, v, false)
	}
	if len(objs) == 0 {
		return []byte("[]"), nil
	}
	return json.Marshal(objs)
}

// setIn sets path's own value (or its defaultaction) inside obj, unless the
// slot is taken.
func setIn(obj map[string]any, path []string, v any, action bool) bool {
	for _, name := range path {
		child, ok := obj[name]
		switch c := child.(type) {
		case map[string]any:
			obj = c
		case nil:
			if !ok {
				m := map[string]any{}
				obj[name] = m
				obj = m
			}
		default:
			// A bare value: turn it into {"": value} to hold children.
			m := map[string]any{"": c}
			obj[name] = m
			obj = m
		}
	}
	slot := ""
	if action {
		slot = "defaultaction"
	}
	if _, taken := obj[slot]; taken {
		return false
	}
	obj[slot] = v
	return true
}

// AddAction makes p also set the defaultaction at path.
func (p *Push) AddAction(path []string, a Action) {
	p.acts = append(p.acts, actionSet{path: path, act: a})
}
