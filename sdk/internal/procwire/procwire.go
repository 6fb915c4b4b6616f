// Package procwire is the protocol between a natively built pipe in a child
// process (pipe.Main, pipe.Serve) and the host that drives it over the
// child's stdin and stdout (sdk/host's process guest). Each request is an op
// byte, a u32 little-endian payload length and the payload; each response is
// a u32 length and the result buffer the matching WASM export would return.
// Pipe authors never see it, hence internal.
package procwire

// Ops of the protocol, one per pipe ABI export.
const (
	OpAPIVersion = 'v'
	OpManifest   = 'm'
	OpInit       = 'i'
	OpProcess    = 'p'
	OpTick       = 't' // payload: i64 Unix nanoseconds
	OpCleanup    = 'c'
)
