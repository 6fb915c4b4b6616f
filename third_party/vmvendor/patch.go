package main

import (
	"bytes"
	"fmt"
)

// patches are canopy's only changes to the upstream files. Each edit must
// match exactly once, so an upstream change to the lines stops vm:vendor
// instead of being patched blindly; when upstream drops testing.Testing(),
// delete the patch (and, if nothing else is patched, the copy and the replace).
var patches = map[string][]edit{
	// Upstream turns fsync off when testing.Testing() is true, which links the
	// testing package into canopyd and canopy-agent. Without it fsync is on
	// unless DISABLE_FSYNC_FOR_TESTING=true, and the variable is read at the
	// first fsync instead of at package init so a test's TestMain can set it.
	"lib/fs/fsutil/fsutil.go": {
		{old: "\t\"strconv\"\n\t\"testing\"\n)", new: "\t\"strconv\"\n\t\"sync\"\n)"},
		{
			old: "\treturn isFsyncDisabled\n}\n\nvar isFsyncDisabled = isFsyncDisabledInternal()\n",
			new: "\treturn isFsyncDisabled()\n}\n\nvar isFsyncDisabled = sync.OnceValue(isFsyncDisabledInternal)\n",
		},
		{
			old: "\tif s == \"\" {\n\t\treturn testing.Testing()\n",
			new: "\tif s == \"\" {\n\t\treturn false // canopy: no testing.Testing() (third_party/vmvendor/patch.go)\n",
		},
	},
}

type edit struct{ old, new string }

// applyEdits applies edits in order (or undoes them in reverse order when
// undo is set), each replacing text that occurs exactly once.
func applyEdits(src []byte, edits []edit, undo bool) ([]byte, error) {
	out := src
	for i := range edits {
		e := edits[i]
		if undo {
			e = edits[len(edits)-1-i]
			e.old, e.new = e.new, e.old
		}
		if n := bytes.Count(out, []byte(e.old)); n != 1 {
			return nil, fmt.Errorf("patch text %q occurs %d times, want once", e.old, n)
		}
		out = bytes.Replace(out, []byte(e.old), []byte(e.new), 1)
	}
	return out, nil
}
