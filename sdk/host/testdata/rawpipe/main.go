// Command rawpipe implements the ABI by hand (no sdk/pipe) to hand the host
// what the SDK never would. Behaviour by -ldflags=-X main.mode=MODE:
//
//	garbage     process returns random bytes
//	bigresult   process claims a 100 MB result
//	bigalloc    process builds a real 100 MB result (past the memory cap)
//	version     canopy_api_version returns a version this canopy does not speak
//	badmanifest the manifest does not decode
package main

import (
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

var mode string

var in, res []byte

func pack(b []byte) uint64 {
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

//go:wasmexport canopy_api_version
func apiVersion() int32 {
	if mode == "version" {
		return pipeabi.Version + 1
	}
	return pipeabi.Version
}

//go:wasmexport canopy_manifest
func manifest() uint64 {
	if mode == "badmanifest" {
		res = []byte{wire.StatusOK, 200, 1, 2}
		return pack(res)
	}
	m := pipeabi.Manifest{Name: "raw-" + mode, Version: "0", Fields: []string{pipeabi.FieldStatus},
		Roots: []pipeabi.Root{{Path: []string{"raw"}}}}
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

var seed uint32 = 12345

//go:wasmexport canopy_process
func process(ptr, n int32) uint64 {
	switch mode {
	case "garbage":
		res = res[:0]
		for range 1000 {
			seed = seed*1664525 + 1013904223
			res = append(res, byte(seed>>24))
		}
		res[0] = wire.StatusOK
		return pack(res)
	case "bigresult":
		res = wire.AppendOK(res[:0])
		return uint64(uintptr(unsafe.Pointer(&res[0])))<<32 | 100<<20
	case "bigalloc":
		res = make([]byte, 100<<20)
		return pack(res)
	}
	res = pipeabi.AppendDeltaCount(wire.AppendOK(res[:0]), 0)
	return pack(res)
}

//go:wasmexport canopy_cleanup
func cleanup() uint64 {
	res = wire.AppendOK(res[:0])
	return pack(res)
}

func main() {}
