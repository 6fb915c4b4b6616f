// Command garbage implements the pipe ABI by hand (no sdk/pipe) to answer
// every batch with random bytes behind an OK status, for TestHostilePipes.
package main

import (
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

var in, res []byte

func pack(b []byte) uint64 {
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

//go:wasmexport canopy_api_version
func apiVersion() int32 { return pipeabi.Version }

//go:wasmexport canopy_manifest
func manifest() uint64 {
	m := pipeabi.Manifest{Name: "hostile-garbage", Version: "0", Fields: []string{pipeabi.FieldStatus},
		Roots: []pipeabi.Root{{Path: []string{"hostile", "garbage"}}}}
	res = pipeabi.AppendManifest(wire.AppendOK(nil), &m)
	return pack(res)
}

//go:wasmexport canopy_alloc
func alloc(n int32) int32 {
	in = make([]byte, n)
	return int32(uintptr(unsafe.Pointer(&in[0])))
}

//go:wasmexport canopy_init
func initPipe(ptr, n int32) uint64 {
	res = wire.AppendOK(res[:0])
	return pack(res)
}

var seed uint32 = 2026

//go:wasmexport canopy_process
func process(ptr, n int32) uint64 {
	res = res[:0]
	for range 4096 {
		seed = seed*1664525 + 1013904223
		res = append(res, byte(seed>>24))
	}
	res[0] = wire.StatusOK
	return pack(res)
}

//go:wasmexport canopy_cleanup
func cleanup() uint64 {
	res = wire.AppendOK(res[:0])
	return pack(res)
}

func main() {}
