//go:build wasip1

// Command guest exports the codegen kernels from a Go WASM module
// (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared), for TestFloor.
package main

import "github.com/canopy-dev/canopy/bench/codegen"

// state is the one batch: wasm exports are package-level functions.
var state *codegen.State

//go:wasmexport setup
func setup(seed int64) { state = codegen.New(uint64(seed)) }

// run runs kernel over batch and returns its checksum.
//
//go:wasmexport run
func run(kernel, batch int32) int64 { return int64(state.Run(int(kernel), int(batch))) }

// nop measures a call's fixed cost.
//
//go:wasmexport nop
func nop() {}

func main() {}
