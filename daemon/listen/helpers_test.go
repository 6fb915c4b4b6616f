package listen

import "github.com/canopy-dev/canopy/daemon/tree"

func newTestTree() *tree.Tree { return tree.New() }
