//go:build !(amd64 || arm64 || wasm || 386 || riscv64 || ppc64le || loong64)

package pipe

func hashPath(kind byte, path []string) uint64 {
	const prime = 0x100000001b3
	h := uint64(0xcbf29ce484222325) ^ uint64(kind)
	for _, s := range path {
		h = (h ^ uint64(len(s))) * prime
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
	}
	return h ^ h>>29
}
