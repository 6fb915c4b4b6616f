// Package pipe is the Go guest API for canopy log pipes. A pipe is a type
// implementing Pipe; its main package registers it:
//
//	func init() { pipe.Register(New()) }
//	func main() { pipe.Main() }
//
// Built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, the wasip1 half of
// this package exports the canopy ABI (sdk/pipeabi/README.md) for the
// registered pipe. Built natively, the same source runs in unit tests
// (sdk/pipetest) and, through Main, as a native process speaking the same
// ABI over stdin/stdout (the native side of the WASM-vs-native benchmark).
package pipe

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// Aliases so a pipe needs only this import.
type (
	// Manifest declares the pipe's name, version, fields and roots.
	Manifest = pipeabi.Manifest
	// Root is one subtree the pipe writes, with its defaultaction.
	Root = pipeabi.Root
	// Record is one parsed log line (only the manifest's fields are set).
	Record = pipeabi.Record
	// Action is a defaultaction.
	Action = pipeabi.Action
	// Batch is a whole batch of records as columns (see BatchProcessor).
	Batch = pipeabi.Batch
	// Strings is a string column of a Batch.
	Strings = pipeabi.Strings
	// Float64Lists is a list column of a Batch (upstream_response_time).
	Float64Lists = pipeabi.Float64Lists
)

// The defaultactions.
const (
	Add     = pipeabi.ActionAdd
	Average = pipeabi.ActionAverage
	Max     = pipeabi.ActionMax
	Min     = pipeabi.ActionMin
	Last    = pipeabi.ActionLast
)

// The record fields a manifest may ask for (see sdk/pipeabi/README.md).
const (
	FieldTime        = pipeabi.FieldTime
	FieldStatus      = pipeabi.FieldStatus
	FieldBytes       = pipeabi.FieldBytes
	FieldRequestTime = pipeabi.FieldRequestTime
	FieldUpstream    = pipeabi.FieldUpstream
	FieldMethod      = pipeabi.FieldMethod
	FieldPath        = pipeabi.FieldPath
	FieldQuery       = pipeabi.FieldQuery
	FieldProtocol    = pipeabi.FieldProtocol
	FieldUserAgent   = pipeabi.FieldUserAgent
	FieldReferer     = pipeabi.FieldReferer
	FieldRemoteAddr  = pipeabi.FieldRemoteAddr
	FieldHost        = pipeabi.FieldHost
	FieldUA          = pipeabi.FieldUA

	FieldUABrowser      = pipeabi.FieldUABrowser
	FieldUABrowserMajor = pipeabi.FieldUABrowserMajor
	FieldUAOS           = pipeabi.FieldUAOS
	FieldUAOSVersion    = pipeabi.FieldUAOSVersion
	FieldUAVendor       = pipeabi.FieldUAVendor
	FieldUABot          = pipeabi.FieldUABot
	FieldUAClass        = pipeabi.FieldUAClass
	FieldUAClassHash    = pipeabi.FieldUAClassHash
	FieldPathHash       = pipeabi.FieldPathHash
)

// Pipe is what a pipe author implements: Manifest and Init, and either
// Process (one record at a time, the simple way) or ProcessBatch (a whole
// batch as columns, the fast way). A pipe with neither is refused.
type Pipe interface {
	// Manifest is called once, before Init.
	Manifest() Manifest
	// Init receives the pipe's params from the `pipes:` section of
	// canopyd.yaml. An error refuses the pipe.
	Init(cfg Config) error
}

// Processor is a pipe that handles one record at a time.
type Processor interface {
	// Process is called for every record of a batch. r and its strings are
	// valid only during the call: copy what you keep (strings.Clone).
	// A panic fails the batch (the host discards the instance).
	Process(r *Record, out *Out)
}

// BatchProcessor is a pipe that handles a whole batch at once; when a pipe
// has ProcessBatch, Process is not called. The batch's columns are views
// of the input (b.Int64s(FieldStatus)[i] is record i's status), valid only
// during the call. In Go's WASM build this is several times faster than
// Process: no record is decoded, and a loop over a column is a loop over a
// slice. The built-in pipes use it.
type BatchProcessor interface {
	ProcessBatch(b *Batch, out *Out)
}

// Ticker is implemented by pipes that also emit per interval.
type Ticker interface {
	Tick(now time.Time, out *Out)
}

// Cleaner is implemented by pipes that release something on unload.
type Cleaner interface {
	Cleanup()
}

// Flusher is implemented by pipes that aggregate a batch themselves (plain
// counters instead of an Emit per line) and emit the aggregate once: Flush
// runs after the last record of every batch, before its deltas are sent.
// Emit costs a key build and a map lookup, which in Go's WASM build is ~10x
// a native one; the built-in time pipes would otherwise Emit a dozen times
// per line. (Added by the built-in pipes' author; see pipes-src.)
type Flusher interface {
	Flush(out *Out)
}

// Config is a pipe's params (strings, as in gmond's module params).
type Config map[string]string

// String returns the param or def.
func (c Config) String(key, def string) string {
	if v, ok := c[key]; ok {
		return v
	}
	return def
}

// Int returns the param parsed as an integer, or def when it is absent.
func (c Config) Int(key string, def int) (int, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("param %s=%q: want an integer", key, v)
	}
	return n, nil
}

// Float returns the param parsed as a number, or def when it is absent.
func (c Config) Float(key string, def float64) (float64, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		return def, fmt.Errorf("param %s=%q: want a number", key, v)
	}
	return f, nil
}
