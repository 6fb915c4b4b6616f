package tree

// NOTE: temporary signatures; the implementation lands in the next commits.

// Tree is the concurrent in-memory tree.
type Tree struct{}

// New returns an empty tree.
func New() *Tree { panic("todo") }

// Version returns the current global version (0 for an empty tree).
func (t *Tree) Version() uint64 { panic("todo") }

// Len returns the number of nodes.
func (t *Tree) Len() int { panic("todo") }

// Apply merges deltas atomically with one new version; nothing merges if any
// delta is invalid. Numbers merge by the action ruling their path (add when
// none is set).
func (t *Tree) Apply(deltas []Delta) (MergeResult, error) { panic("todo") }

// SetAction sets the defaultaction ruling the subtree at path (created if missing).
func (t *Tree) SetAction(path []string, a Action) error { panic("todo") }

// MergeJSON merges a seed-shaped push: an object or a list of objects.
// Atomic: any invalid part merges nothing; the error names the path.
func (t *Tree) MergeJSON(data []byte) (MergeResult, error) { panic("todo") }

// Pattern is a compiled key: comma path, "" or "*" = one level, globs in a
// segment, "**" = any depth, %2C and %25 escapes.
type Pattern struct{}

// ParsePattern compiles a key.
func ParsePattern(key string) (*Pattern, error) { panic("todo") }

// Get returns every node matching p and all its descendants that hold a
// number or marker, sorted by key.
func (t *Tree) Get(p *Pattern) []Entry { panic("todo") }

// GetTree returns the same nodes nested, in push shape ("" for a node's own
// number, "defaultaction" where one is set); merging it into an empty tree
// reproduces the subtree.
func (t *Tree) GetTree(p *Pattern) map[string]any { panic("todo") }

// Since returns what Get would, restricted to nodes changed after version v,
// plus the current version. Unchanged subtrees are not visited.
func (t *Tree) Since(p *Pattern, v uint64) ([]Entry, uint64) { panic("todo") }

// Tick starts a new averaging window: the next sample of an average node
// replaces its value, later ones average with it.
func (t *Tree) Tick() { panic("todo") }

// WriteSnapshot writes the tree and opaque meta (e.g. ingest offsets) to
// path atomically (temp file, fsync, rename).
func (t *Tree) WriteSnapshot(path string, meta []byte) error { panic("todo") }

// LoadSnapshot reads a snapshot written by WriteSnapshot; a missing file is
// an error satisfying errors.Is(err, fs.ErrNotExist).
func LoadSnapshot(path string) (*Tree, []byte, error) { panic("todo") }

// JoinKey escapes names and joins them with commas.
func JoinKey(path []string) string { panic("todo") }

// SplitKey splits an exact key into unescaped names.
func SplitKey(key string) ([]string, error) { panic("todo") }
