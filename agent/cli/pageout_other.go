//go:build !linux

package cli

// pageOutBinary is Linux-only.
func pageOutBinary() {}
