package collector

import (
	"errors"
	"time"

	"github.com/canopy-dev/canopy/sdk/collectorabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// Response is the answer of HTTPGet.
type Response struct {
	Status int
	// TTFB is the time to the first response byte; Total to the end of the body.
	TTFB, Total time.Duration
	// Bytes is the body length read; Body is at most 1 MiB of it.
	Bytes int64
	Body  []byte
}

// HTTPGet fetches url through the agent, which allows only URLs the
// module's config grants (grant { http_get = "..." }) and enforces timeout.
// A transport failure is an error; any HTTP status is not.
func HTTPGet(url string, timeout time.Duration) (*Response, error) {
	b, err := hostHTTPGet(url, timeout)
	if err != nil {
		return nil, err
	}
	r, err := collectorabi.DecodeHTTPResponse(b)
	if err != nil {
		return nil, err
	}
	if r.Err != "" {
		return nil, errors.New(r.Err)
	}
	return &Response{Status: int(r.Status), TTFB: time.Duration(r.TTFBNs), Total: time.Duration(r.TotalNs),
		Bytes: r.Bytes, Body: r.Body}, nil
}

// TailRead returns the complete lines appended to path since the last call
// (the first call starts at the file's end), at most max bytes of them. The
// agent follows renames and truncation; path must be granted
// (grant { tail = "..." }).
func TailRead(path string, max int) ([]byte, error) {
	return hostTailRead(path, max)
}

// Statfs returns the space of a mount point the module's config grants
// (grant { statfs = "/" }); WASI has no statvfs of its own.
func Statfs(path string) (*collectorabi.Statfs, error) {
	b, err := hostStatfs(path)
	if err != nil {
		return nil, err
	}
	d := wire.Decoder{B: b}
	s := &collectorabi.Statfs{TotalBytes: uint64(d.I64()), FreeBytes: uint64(d.I64()), AvailBytes: uint64(d.I64()),
		Inodes: uint64(d.I64()), FreeInodes: uint64(d.I64())}
	if d.Err != nil {
		return nil, errors.New("malformed statfs answer")
	}
	return s, nil
}
