//go:build !unix

package host

import "github.com/tetratelabs/wazero/experimental"

// lazyAllocator keeps memory on the Go heap where mmap is not available.
func lazyAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		return &heapMemory{max: max}
	})
}
