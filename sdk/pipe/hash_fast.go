//go:build amd64 || arm64 || wasm || 386 || riscv64 || ppc64le || loong64

package pipe

import "unsafe"

// hashPath hashes a path eight bytes at a time (unaligned loads are allowed
// and cheap on these targets). Only Out's table uses it; collisions are
// resolved by comparing the segments.
func hashPath(kind byte, path []string) uint64 {
	const prime = 0x100000001b3
	h := uint64(0xcbf29ce484222325) ^ uint64(kind)
	for _, s := range path {
		n := len(s)
		h = (h ^ uint64(n)) * prime
		if n == 0 {
			continue
		}
		p := unsafe.Pointer(unsafe.StringData(s))
		i := 0
		for ; i+8 <= n; i += 8 {
			h = (h ^ *(*uint64)(unsafe.Add(p, i))) * prime
		}
		if i < n {
			var w uint64
			for j := i; j < n; j++ {
				w = w<<8 | uint64(*(*byte)(unsafe.Add(p, j)))
			}
			h = (h ^ w) * prime
		}
	}
	return h ^ h>>29
}
