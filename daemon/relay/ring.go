package relay

import (
	"crypto/md5"
	"encoding/binary"
	"slices"
	"strconv"
)

// ring is a consistent-hash ring like carbon-relay's: every upstream owns
// 100 points on a 32-bit circle (md5 of "url:i"), and a key belongs to the
// first point at or after its own hash. Adding an upstream moves only the
// keys that land on its points.
type ring struct {
	points []uint32
	owner  []int // upstream index of each point
}

const ringReplicas = 100

func newRing(names []string) *ring {
	type pt struct {
		h uint32
		i int
	}
	var pts []pt
	for i, n := range names {
		for r := 0; r < ringReplicas; r++ {
			pts = append(pts, pt{hash32(n + ":" + strconv.Itoa(r)), i})
		}
	}
	slices.SortFunc(pts, func(a, b pt) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return a.i - b.i
	})
	r := &ring{}
	for _, p := range pts {
		r.points = append(r.points, p.h)
		r.owner = append(r.owner, p.i)
	}
	return r
}

func hash32(s string) uint32 {
	sum := md5.Sum([]byte(s))
	return binary.BigEndian.Uint32(sum[:4])
}

// owner returns the upstream index that owns key.
func (r *ring) get(key string) int {
	h := hash32(key)
	i, _ := slices.BinarySearch(r.points, h)
	if i == len(r.points) {
		i = 0
	}
	return r.owner[i]
}
