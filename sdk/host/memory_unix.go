//go:build unix

package host

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// lazyMemory backs a guest's linear memory with an anonymous mapping of
// its maximum size, outside the Go heap. The kernel supplies zeroed pages
// on first touch, so only the pages the guest writes are resident, growing
// never copies, and the memory does not count against the Go GC's heap.
// (wazero's default grows with append, which copies and clears every new
// page: a Go guest's first 4 MiB heap arena is then resident in full.)
type lazyMemory struct {
	buf []byte
}

// lazyAllocator returns the allocator. When the reservation fails the
// memory lives on the Go heap, as with wazero's default.
func lazyAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
		if err != nil || max == 0 {
			return &heapMemory{max: max}
		}
		return &lazyMemory{buf: b}
	})
}

func (m *lazyMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

func (m *lazyMemory) Free() {
	if m.buf != nil {
		syscall.Munmap(m.buf)
		m.buf = nil
	}
}
