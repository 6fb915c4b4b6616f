//go:build wasip1

package collector

import (
	"errors"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/collectorabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

var inbuf []byte

func init() {
	// A module's linear memory never shrinks, and every page the guest's
	// heap ever touched stays in the agent's RSS: collect garbage at 25 %
	// growth (and from a small heap) rather than Go's 100 % and 4 MB
	// minimum. A module may call debug.SetGCPercent itself to change it.
	debug.SetGCPercent(25)
}

//go:wasmexport canopy_api_version
func apiVersion() int32 { return collectorabi.Version }

//go:wasmexport canopy_alloc
func alloc(size int32) int32 {
	if size <= 0 {
		size = 1
	}
	if int(size) > cap(inbuf) {
		inbuf = make([]byte, size)
	}
	inbuf = inbuf[:size]
	return int32(uintptr(unsafe.Pointer(&inbuf[0])))
}

func input(ptr, n int32) []byte {
	if n == 0 || len(inbuf) == 0 {
		return nil
	}
	// The host writes inputs only into the buffer canopy_alloc returned.
	base := int32(uintptr(unsafe.Pointer(&inbuf[0])))
	off := ptr - base
	if off < 0 || int(off)+int(n) > len(inbuf) {
		return nil
	}
	return inbuf[off : off+n]
}

func result(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	return int64(uintptr(unsafe.Pointer(&b[0])))<<32 | int64(len(b))
}

//go:wasmexport canopy_collector_modules
func modules() int64 { return result(reg.modules()) }

//go:wasmexport canopy_metric_init
func metricInit(ptr, n int32) int64 { return result(reg.init(input(ptr, n))) }

//go:wasmexport canopy_metric_values
func metricValues(ptr, n int32) int64 { return result(reg.values(input(ptr, n))) }

//go:wasmexport canopy_metric_cleanup
func metricCleanup(ptr, n int32) int64 { return result(reg.cleanup(input(ptr, n))) }

//go:wasmimport canopy_collector http_get
func httpGet(urlPtr unsafe.Pointer, urlLen int32, timeoutMs int32) int32

//go:wasmimport canopy_collector tail_read
func tailRead(pathPtr unsafe.Pointer, pathLen int32, max int32) int32

//go:wasmimport canopy_collector statfs
func statfs(pathPtr unsafe.Pointer, pathLen int32) int32

//go:wasmimport canopy_collector result_read
func resultRead(ptr unsafe.Pointer, n int32) int32

func readResult(n int32) ([]byte, error) {
	if n < 0 {
		return nil, errors.New("host call failed")
	}
	b := make([]byte, n)
	if n > 0 {
		if got := resultRead(unsafe.Pointer(&b[0]), n); got != n {
			return nil, errors.New("host result changed while reading")
		}
	}
	return b, nil
}

func hostHTTPGet(url string, timeout time.Duration) ([]byte, error) {
	if url == "" {
		return nil, errors.New("empty URL")
	}
	ms := int32(timeout / time.Millisecond)
	if ms <= 0 {
		ms = 1
	}
	n := httpGet(unsafe.Pointer(unsafe.StringData(url)), int32(len(url)), ms)
	return readResult(n)
}

func hostTailRead(path string, max int) ([]byte, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	n := tailRead(unsafe.Pointer(unsafe.StringData(path)), int32(len(path)), int32(max))
	b, err := readResult(n)
	if err != nil {
		return nil, err
	}
	return hostStatus(b)
}

func hostStatfs(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	b, err := readResult(statfs(unsafe.Pointer(unsafe.StringData(path)), int32(len(path))))
	if err != nil {
		return nil, err
	}
	return hostStatus(b)
}

// hostStatus splits the status byte off a tail_read or statfs answer.
func hostStatus(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("empty host answer")
	}
	if b[0] != wire.StatusOK {
		return nil, errors.New(string(b[1:]))
	}
	return b[1:], nil
}
