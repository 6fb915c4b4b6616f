package host

// heapMemory is a linear memory on the Go heap (wazero's default
// behaviour), for when lazyMemory cannot reserve its mapping.
type heapMemory struct {
	buf []byte
	max uint64
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
	} else {
		m.buf = append(m.buf, make([]byte, size-uint64(len(m.buf)))...)
	}
	return m.buf
}

func (m *heapMemory) Free() { m.buf = nil }
