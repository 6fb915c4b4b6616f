//go:build !linux

package main

// pageOutBinary is Linux-only.
func pageOutBinary() {}
