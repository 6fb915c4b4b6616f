//go:build !(amd64 || arm64 || wasm || 386 || riscv64 || ppc64le || loong64)

package wire

import "encoding/binary"

// NativeLittleEndian: columns are copied out, not used in place.
const NativeLittleEndian = false

// LoadU32 loads the little-endian uint32 at b[off:].
func LoadU32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

// LoadU64 loads the little-endian uint64 at b[off:].
func LoadU64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
