// Package tree holds canopy's core: one large in-memory tree of named nodes,
// each with an optional number or marker string and any number of children.
//
// Numbers merge by the defaultaction that rules their subtree (add, average,
// max, min, last). Every merge bumps a global version; readers can ask for
// the changes under a key since a version without scanning unrelated
// subtrees. A single RWMutex makes every merge atomic for readers.
package tree

import (
	"fmt"
	"strconv"
)

// Action says how an incoming number merges into a node.
type Action uint8

// The merge actions of the seed's defaultaction.
const (
	ActionAdd Action = iota
	ActionAverage
	ActionMax
	ActionMin
	ActionLast
)

var actionNames = [...]string{"add", "average", "max", "min", "last"}

// String returns the defaultaction spelling of a.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// ParseAction parses a defaultaction name.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("unknown defaultaction %q (want add, average, max, min or last)", s)
}

// IsCounter reports whether values under a are counters (read as increments)
// rather than gauges.
func (a Action) IsCounter() bool { return a == ActionAdd }

// Delta is one change to merge: a number (merged by the ruling action) or a
// marker string at Path. Path holds unescaped names, none empty.
type Delta struct {
	Path     []string
	Value    float64
	Marker   string
	IsMarker bool
	// Samples, when more than 1, says Value is the mean of that many
	// samples: an average node weighs it so (other actions ignore it).
	Samples uint32
}

// Entry is one node in a read result.
type Entry struct {
	Key      string // escaped comma key, e.g. "br,ie,7"
	Value    float64
	Marker   string
	IsMarker bool   // the node holds Marker rather than Value
	Action   Action // the defaultaction ruling this node
	Version  uint64 // version of the node's last change
}

// MarshalJSON writes the seed's flat form: {"br,ie,7": 8}.
func (e Entry) MarshalJSON() ([]byte, error) {
	return appendEntryJSON(make([]byte, 0, len(e.Key)+len(e.Marker)+16), e.Key, e.IsMarker, e.Marker, e.Value), nil
}

// MergeResult says what a push merged.
type MergeResult struct {
	Numbers int    `json:"numbers"`
	Markers int    `json:"markers"`
	Version uint64 `json:"version"`
}
