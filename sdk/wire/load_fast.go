//go:build amd64 || arm64 || wasm || 386 || riscv64 || ppc64le || loong64

package wire

import "unsafe"

// NativeLittleEndian says the target loads little-endian words natively, so
// a batch column can be used in place as []int64/[]float64.
const NativeLittleEndian = true

// Little-endian loads for the decoder. On these little-endian targets an
// unaligned load is allowed and is one instruction; Go's wasm backend does
// not merge the byte loads of binary.LittleEndian into one, so the generic
// form costs ~20 instructions per field there.

// LoadU32 loads the little-endian uint32 at b[off:].
func LoadU32(b []byte, off int) uint32 { return *(*uint32)(unsafe.Pointer(&b[off])) }

// LoadU64 loads the little-endian uint64 at b[off:].
func LoadU64(b []byte, off int) uint64 { return *(*uint64)(unsafe.Pointer(&b[off])) }
