// Package hashtab is a small open-addressing table from 64-bit hashes (the
// host computes them: ua_class_hash, path_hash) to int32 values, for the
// built-in pipes' per-line lookup. It does what a Go map does, in a few
// inlined instructions: a map access in Go's WASM build costs several
// hundred nanoseconds, which is most of a pipe's per-line budget.
package hashtab

// Table maps uint64 keys to int32 values. The zero Table is empty and ready.
type Table struct {
	keys []uint64
	vals []int32
	used []bool
	n    int
	mask uint64
}

// Len is the number of keys.
func (t *Table) Len() int { return t.n }

// Get returns the value of key k.
func (t *Table) Get(k uint64) (int32, bool) {
	if t.n == 0 {
		return 0, false
	}
	// The keys are hashes already: their low bits are uniform.
	for i := k & t.mask; ; i = (i + 1) & t.mask {
		if !t.used[i] {
			return 0, false
		}
		if t.keys[i] == k {
			return t.vals[i], true
		}
	}
}

// Put sets the value of key k.
func (t *Table) Put(k uint64, v int32) {
	if 2*(t.n+1) > len(t.keys) { // keep the load under one half
		t.grow()
	}
	for i := k & t.mask; ; i = (i + 1) & t.mask {
		if !t.used[i] {
			t.keys[i], t.vals[i], t.used[i] = k, v, true
			t.n++
			return
		}
		if t.keys[i] == k {
			t.vals[i] = v
			return
		}
	}
}

// Clear removes every key, keeping the memory.
func (t *Table) Clear() {
	clear(t.used)
	t.n = 0
}

func (t *Table) grow() {
	old := *t
	size := max(64, 2*len(old.keys))
	*t = Table{keys: make([]uint64, size), vals: make([]int32, size), used: make([]bool, size), mask: uint64(size - 1)}
	for i, u := range old.used {
		if u {
			t.Put(old.keys[i], old.vals[i])
		}
	}
}
