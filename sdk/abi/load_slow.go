//go:build !(amd64 || arm64 || wasm || 386 || riscv64 || ppc64le || loong64)

package abi

import "encoding/binary"

// littleEndian: columns are copied out, not used in place.
const littleEndian = false

func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

func le64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
