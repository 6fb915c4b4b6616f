//go:build wasip1

package pipe

import (
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// runner is the registered pipe. WASM exports are package-level functions,
// so the one pipe of a module lives in a package variable here (and only in
// the wasip1 build).
var runner *Runner

// Register makes p the pipe this module exports. Call it from an init
// function: a wasip1 reactor runs package initialisers but never main.
func Register(p Pipe) { runner = NewRunner(p) }

// Main does nothing in the WASM build: a reactor's main is never called.
func Main() {}

// pack returns a result buffer as ptr<<32 | len.
func pack(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

func noPipe() uint64 { return pack(wire.AppendError(nil, errNoPipe.Error())) }

//go:wasmexport canopy_api_version
func exportAPIVersion() int32 { return pipeabi.Version }

//go:wasmexport canopy_manifest
func exportManifest() uint64 {
	if runner == nil {
		return noPipe()
	}
	return pack(runner.ManifestResult())
}

//go:wasmexport canopy_alloc
func exportAlloc(size int32) int32 {
	if runner == nil || size < 0 {
		return 0
	}
	b := runner.Buffer(max(int(size), 1))
	return int32(uintptr(unsafe.Pointer(&b[0])))
}

// input returns the input buffer the host wrote at ptr (always the buffer
// canopy_alloc handed out).
func input(ptr, size int32) ([]byte, bool) {
	if size < 0 || int(size) > cap(runner.in) {
		return nil, false
	}
	b := runner.in[:size]
	if size > 0 && int32(uintptr(unsafe.Pointer(&b[0]))) != ptr {
		return nil, false
	}
	return b, true
}

//go:wasmexport canopy_init
func exportInit(ptr, size int32) uint64 {
	if runner == nil {
		return noPipe()
	}
	in, ok := input(ptr, size)
	if !ok {
		return pack(wire.AppendError(nil, "canopy_init: input is not the canopy_alloc buffer"))
	}
	return pack(runner.Init(in))
}

//go:wasmexport canopy_process
func exportProcess(ptr, size int32) uint64 {
	if runner == nil {
		return noPipe()
	}
	in, ok := input(ptr, size)
	if !ok {
		return pack(wire.AppendError(nil, "canopy_process: input is not the canopy_alloc buffer"))
	}
	return pack(runner.Process(in))
}

//go:wasmexport canopy_tick
func exportTick(now int64) uint64 {
	if runner == nil {
		return noPipe()
	}
	return pack(runner.Tick(now))
}

//go:wasmexport canopy_cleanup
func exportCleanup() uint64 {
	if runner == nil {
		return noPipe()
	}
	return pack(runner.Cleanup())
}
