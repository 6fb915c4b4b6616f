package tree_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/canopy-dev/canopy/daemon/tree"
)

func delta(v float64, path ...string) tree.Delta { return tree.Delta{Path: path, Value: v} }

// TestMaxNodes: a merge that would grow the tree past its limit is refused
// whole (ErrFull) and counted; ApplyFitting keeps what fits, in order;
// existing keys always update.
func TestMaxNodes(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		seed    []tree.Delta // merged before the limit is set
		deltas  []tree.Delta
		fitting bool
		wantErr bool
		dropped int
		nodes   int
		refused uint64
		get     string // flat JSON of the whole tree after
	}{
		{"fits exactly", 3, nil, []tree.Delta{delta(1, "a", "b"), delta(1, "a", "c")}, false, false, 0, 3, 0,
			`[{"a,b":1},{"a,c":1}]`},
		{"shared new parent counted once", 4, nil, []tree.Delta{delta(1, "a", "b"), delta(1, "a", "c"), delta(1, "a", "d")}, false, false, 0, 4, 0,
			`[{"a,b":1},{"a,c":1},{"a,d":1}]`},
		{"one over: nothing merges", 3, nil, []tree.Delta{delta(1, "a", "b"), delta(1, "a", "c"), delta(1, "x")}, false, true, 0, 0, 4,
			`[]`},
		{"existing keys update when full", 2, []tree.Delta{delta(1, "a", "b")}, []tree.Delta{delta(2, "a", "b")}, false, false, 0, 2, 0,
			`[{"a,b":3}]`},
		{"full: a new key refuses the push", 2, []tree.Delta{delta(1, "a", "b")}, []tree.Delta{delta(2, "a", "b"), delta(1, "a", "c")}, false, true, 0, 2, 1,
			`[{"a,b":1}]`},
		{"fitting keeps what fits in order", 3, []tree.Delta{delta(1, "a")}, []tree.Delta{delta(1, "a"), delta(1, "b"), delta(1, "c", "d"), delta(1, "e"), delta(1, "a")}, true, false, 1, 3, 2,
			`[{"a":3},{"b":1},{"e":1}]`},
		{"fitting: a dropped path's prefix is not counted", 3, nil, []tree.Delta{delta(1, "a"), delta(1, "x", "y", "z"), delta(1, "x", "y")}, true, false, 1, 3, 3,
			`[{"a":1},{"x,y":1}]`},
		{"no limit", 0, nil, []tree.Delta{delta(1, "a", "b", "c")}, false, false, 0, 3, 0,
			`[{"a,b,c":1}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := tree.New()
			if _, err := tr.Apply(tc.seed); err != nil {
				t.Fatal(err)
			}
			tr.SetMaxNodes(tc.max)
			var err error
			dropped := 0
			if tc.fitting {
				_, dropped, err = tr.ApplyFitting(tc.deltas)
			} else {
				_, err = tr.Apply(tc.deltas)
			}
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, tree.ErrFull)) {
				t.Errorf("err = %v, want ErrFull: %v", err, tc.wantErr)
			}
			_, refused := tr.Capacity()
			if dropped != tc.dropped || tr.Len() != tc.nodes || refused != tc.refused {
				t.Errorf("dropped %d, nodes %d, refused %d; want %d, %d, %d", dropped, tr.Len(), refused, tc.dropped, tc.nodes, tc.refused)
			}
			if got := dump(t, tr); got != tc.get {
				t.Errorf("tree = %s, want %s", got, tc.get)
			}
		})
	}
}

// TestMaxNodesActions: a defaultaction on a new path counts its nodes.
func TestMaxNodesActions(t *testing.T) {
	tr := tree.New()
	tr.SetMaxNodes(1)
	if err := tr.SetAction([]string{"a", "b"}, tree.ActionMax); !errors.Is(err, tree.ErrFull) {
		t.Errorf("SetAction a,b on a 1-node tree: %v, want ErrFull", err)
	}
	if err := tr.SetAction([]string{"a"}, tree.ActionMax); err != nil {
		t.Errorf("SetAction a: %v", err)
	}
}

// TestMaxNodesBudget: under the node limit ApplyBudget drops the new keys
// that do not fit and debits only the keys it created.
func TestMaxNodesBudget(t *testing.T) {
	tr := tree.New()
	tr.SetMaxNodes(2)
	var left atomic.Int64
	left.Store(10)
	if _, err := tr.ApplyBudget([]tree.Delta{delta(1, "a"), delta(1, "b"), delta(1, "c"), delta(1, "a")}, &left); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, tr); got != `[{"a":2},{"b":1}]` || left.Load() != 8 {
		t.Errorf("tree %s, budget left %d; want a=2, b=1 and 8", got, left.Load())
	}
}
