package push

import (
	"encoding/json"
	"fmt"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// ContentTypeDeltas labels relay batches of parsed deltas (from pipes run
// at the relay, or from push sockets): a JSON list of objects
// {"actions": [{"p": path, "a": action}], "units": [{"p": path, "u": unit}],
// "deltas": [{"p": path, "v": value,
// "n": samples} or {"p": path, "m": marker}]}. Unlike a JSON push, it keeps
// how many samples an average stands for, so an average forwarded per batch
// weighs as much as the samples it was made of.
const ContentTypeDeltas = "application/x-canopy-deltas+json"

type wireDeltas struct {
	Actions []wireAction `json:"actions,omitempty"`
	Units   []wireUnit   `json:"units,omitempty"`
	Deltas  []wireDelta  `json:"deltas"`
}

type wireUnit struct {
	Path []string `json:"p"`
	Unit string   `json:"u"`
}

type wireAction struct {
	Path   []string `json:"p"`
	Action string   `json:"a"`
}

type wireDelta struct {
	Path    []string `json:"p"`
	Value   float64  `json:"v,omitempty"`
	Marker  *string  `json:"m,omitempty"`
	Samples uint32   `json:"n,omitempty"`
}

// MarshalDeltas encodes p as one object of a ContentTypeDeltas batch.
func MarshalDeltas(p *tree.Push) ([]byte, error) {
	w := wireDeltas{Deltas: make([]wireDelta, len(p.Deltas))}
	p.Actions(func(path []string, a tree.Action) {
		w.Actions = append(w.Actions, wireAction{path, a.String()})
	})
	p.Units(func(path []string, u string) {
		w.Units = append(w.Units, wireUnit{path, u})
	})
	for i, d := range p.Deltas {
		w.Deltas[i] = wireDelta{Path: d.Path, Value: d.Value}
		if d.IsMarker {
			m := d.Marker
			w.Deltas[i] = wireDelta{Path: d.Path, Marker: &m}
		} else if d.Samples > 1 {
			w.Deltas[i].Samples = d.Samples
		}
	}
	return json.Marshal(w)
}

// UnmarshalDeltas decodes a ContentTypeDeltas batch into one push (the tree
// checks paths and values when it merges).
func UnmarshalDeltas(data []byte) (*tree.Push, error) {
	var list []wireDeltas
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("relay deltas: %w", err)
	}
	p := &tree.Push{}
	for _, w := range list {
		for _, a := range w.Actions {
			act, err := tree.ParseAction(a.Action)
			if err != nil {
				return nil, fmt.Errorf("relay deltas: %s: %w", key.Join(a.Path), err)
			}
			p.AddAction(a.Path, act)
		}
		for _, u := range w.Units {
			p.AddUnit(u.Path, u.Unit)
		}
		for _, d := range w.Deltas {
			if d.Marker != nil {
				p.Deltas = append(p.Deltas, tree.Delta{Path: d.Path, Marker: *d.Marker, IsMarker: true})
			} else {
				p.Deltas = append(p.Deltas, tree.Delta{Path: d.Path, Value: d.Value, Samples: d.Samples})
			}
		}
	}
	return p, nil
}
