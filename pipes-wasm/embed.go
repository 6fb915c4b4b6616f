// Package pipeswasm holds the built-in log pipes and agent collector
// modules, built from pipes-src/ and embedded so that the binaries run
// them from any directory.
package pipeswasm

import (
	"embed"
	"io/fs"
)

//go:embed *.wasm *.units.json
var pipeFiles embed.FS

//go:embed modules/*.wasm
var moduleFiles embed.FS

// Pipes returns the built-in log pipes: one NAME.wasm per pipe at the root.
func Pipes() fs.FS { return pipeFiles }

// Modules returns the built-in agent collector modules (builtin.wasm).
func Modules() fs.FS {
	sub, err := fs.Sub(moduleFiles, "modules")
	if err != nil {
		panic(err) // "modules" is a valid path: cannot happen
	}
	return sub
}
