package push_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// TestNodeLimits: both node limits answer 413 naming their config key and
// wrap a sentinel for errors.Is.
func TestNodeLimits(t *testing.T) {
	lim := push.Limits{MaxPushNodes: 2, MaxTreeNodes: 3}.WithDefaults()
	tr := tree.New()
	tr.SetMaxNodes(lim.MaxTreeNodes)
	_, fullErr := push.Merge(tr, []byte(`{"a":1,"b":1,"c":1,"d":1}`))
	tests := []struct {
		name     string
		err      *push.LimitError
		sentinel error
		key      string
	}{
		{"per push", lim.CheckJSON([]byte(`{"a":1,"b":{"c":1}}`)), push.ErrPushNodes, "limits.max_push_nodes"},
		{"whole tree", lim.TreeFull(fullErr), tree.ErrFull, "limits.max_tree_nodes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil || tc.err.Code != 413 || !errors.Is(tc.err, tc.sentinel) || !strings.HasSuffix(tc.err.Msg, "("+tc.key+")") {
				t.Errorf("got %#v, want a 413 wrapping %v naming %s", tc.err, tc.sentinel, tc.key)
			}
		})
	}
	if tr.Len() != 0 {
		t.Errorf("the refused push left %d nodes", tr.Len())
	}
	if lim.TreeFull(fmt.Errorf("x: %w", errors.New("other"))) != nil || lim.TreeFull(nil) != nil {
		t.Error("TreeFull took an error that is not ErrFull")
	}
}
