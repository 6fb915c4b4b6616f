// Package uaclass counts a batch's records by what a built-in pipe makes of
// the host's agent class (ua_class, "browser|major|os|version|vendor|bot"):
// the browser pipe groups by browser and major version, the os pipe by
// system and version. The class column is dictionary-encoded and hashed by
// the host, so a batch costs one increment per record and one table lookup
// per distinct class; a class seen for the first time is split and grouped
// once. Hashing or splitting strings per record, or an Emit per record,
// would cost far more in Go's WASM build.
package uaclass

import (
	"strings"

	"github.com/canopy-dev/canopy/pipes-src/internal/hashtab"
	"github.com/canopy-dev/canopy/pipes-src/internal/tally"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

// Fields is what a pipe using a Counter puts in its manifest.
var Fields = []string{pipe.FieldUAClassHash, pipe.FieldUAClass}

// MaxClasses bounds the distinct classes a Counter remembers; past it the
// tables start over after a batch.
const MaxClasses = 4096

// Counter counts by group K. Group maps the six fields of a class (nil for
// a malformed class) to its group; Paths gives the paths a group's count
// is emitted at. Both run once per new class or group, not per record.
type Counter[K comparable] struct {
	Group func(fields []string) K
	Paths func(K) []pipe.Key

	tally   tally.Tally
	byClass hashtab.Table // class hash → group index
	byKey   map[K]int32
	paths   [][]pipe.Key
	hits    []uint32
	used    []int32 // group indexes hit in this batch
}

// Count counts batch b.
func (c *Counter[K]) Count(b *pipe.Batch) {
	classes, hashes := b.Strings(pipe.FieldUAClass), b.Int64s(pipe.FieldUAClassHash)
	c.tally.Count(classes)
	for d, n := range c.tally.Counts {
		if n == 0 {
			continue
		}
		h := uint64(hashes[c.tally.First[d]])
		i, ok := c.byClass.Get(h)
		if !ok {
			i = c.learn(h, classes.Value(d))
		}
		if c.hits[i] == 0 {
			c.used = append(c.used, i)
		}
		c.hits[i] += n
	}
}

// learn maps a class seen for the first time to its group.
func (c *Counter[K]) learn(hash uint64, class string) int32 {
	f := strings.Split(strings.Clone(class), "|") // the batch's strings die with the call
	if len(f) != 6 {
		f = nil
	}
	k := c.Group(f)
	if c.byKey == nil {
		c.byKey = make(map[K]int32)
	}
	i, ok := c.byKey[k]
	if !ok {
		i = int32(len(c.paths))
		c.paths = append(c.paths, c.Paths(k))
		c.hits = append(c.hits, 0)
		c.byKey[k] = i
	}
	c.byClass.Put(hash, i)
	return i
}

// Flush emits the batch's counts and starts the next batch.
func (c *Counter[K]) Flush(out *pipe.Out) {
	for _, i := range c.used {
		n := float64(c.hits[i])
		c.hits[i] = 0
		for j := range c.paths[i] {
			out.EmitKey(&c.paths[i][j], n)
		}
	}
	c.used = c.used[:0]
	if c.byClass.Len() > MaxClasses {
		c.byClass.Clear()
		clear(c.byKey)
		c.paths, c.hits = c.paths[:0], c.hits[:0]
	}
}
