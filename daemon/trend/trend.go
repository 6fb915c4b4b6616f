// Package trend keeps the history of canopy's tree: every tick the numbers
// that changed are written, asynchronously, to a time-series backend — the
// embedded VictoriaMetrics lib/storage in the data folder, or an external
// VictoriaMetrics server or cluster — and read back by key and time range,
// downsampled to the points a graph can show.
package trend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// ErrBadQuery is in the chain of errors about what was asked (a pattern or
// value that cannot be read), as opposed to a backend that failed.
var ErrBadQuery = errors.New("bad query")

// badQuery marks err as ErrBadQuery and keeps its message.
type badQuery struct{ error }

func (e badQuery) Is(target error) bool { return target == ErrBadQuery }
func (e badQuery) Unwrap() error        { return e.error }

// Backend stores rows and returns them raw. Both backends pass the same
// test suite; downsampling happens above them in Store so both answer
// alike.
type Backend interface {
	// Add stores rows. It may buffer: rows become searchable after Flush
	// and durable within a few seconds.
	Add(ctx context.Context, rows []Row) error
	// Read returns the number series whose key m selects, with their
	// points in [from, until] (unix ms, inclusive), sorted by time.
	Read(ctx context.Context, m *Matcher, from, until int64) ([]RawSeries, error)
	// Markers returns the marker events in [from, until] whose key m
	// selects (nil m: all).
	Markers(ctx context.Context, m *Matcher, from, until int64) ([]MarkerEvent, error)
	// Keys returns the keys with numbers in [from, until] that m selects.
	Keys(ctx context.Context, m *Matcher, from, until int64) ([]string, error)
	// Flush makes every added row searchable (used by tests and replay).
	Flush(ctx context.Context) error
	// Close flushes and releases the backend.
	Close() error
	// Name says which backend this is, for /status.
	Name() string
}

// RawSeries is one key's stored points.
type RawSeries struct {
	Key    string
	Kind   Kind
	TS     []int64
	Values []float64
}

// Fn is how points are combined into one output point.
type Fn string

// The read functions of GET /trend/KEY?fn=.
const (
	FnAuto Fn = ""     // rate for counters, avg for gauges
	FnAvg  Fn = "avg"  // mean of the values in the interval
	FnMax  Fn = "max"  // largest value
	FnMin  Fn = "min"  // smallest value
	FnSum  Fn = "sum"  // sum of the values (for counters: same as rate)
	FnLast Fn = "last" // last value
	FnRate Fn = "rate" // increase during the interval (counter resets handled)
)

// ParseFn checks a fn query parameter.
func ParseFn(s string) (Fn, error) {
	switch f := Fn(s); f {
	case FnAuto, FnAvg, FnMax, FnMin, FnSum, FnLast, FnRate:
		return f, nil
	}
	return "", fmt.Errorf("unknown fn %q (want avg, max, min, sum, last or rate)", s)
}

// Point is one output point, written as [unix_ms, value].
type Point struct {
	T int64
	V float64
}

// MarshalJSON writes [t, v].
func (p Point) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = append(b, '[')
	b = strconv.AppendInt(b, p.T, 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, p.V, 'g', -1, 64)
	return append(b, ']'), nil
}

// UnmarshalJSON reads [t, v].
func (p *Point) UnmarshalJSON(b []byte) error {
	var a [2]float64
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("trend point: want [unix_ms, value]: %w", err)
	}
	p.T, p.V = int64(a[0]), a[1]
	return nil
}

// Series is one key's downsampled history.
type Series struct {
	Key    string  `json:"key"`
	Kind   string  `json:"kind"` // counter or gauge
	Fn     Fn      `json:"fn"`
	Points []Point `json:"points"`
}

// MarkerEvent is a marker set at a time.
type MarkerEvent struct {
	Key  string `json:"key"`
	T    int64  `json:"ts"` // unix ms
	Text string `json:"text"`
}

// Result is the answer of Query and of GET /trend/KEY.
type Result struct {
	From    int64         `json:"from"`  // unix ms
	Until   int64         `json:"until"` // unix ms
	StepMS  int64         `json:"step_ms"`
	Series  []Series      `json:"series"`
	Markers []MarkerEvent `json:"markers"`
}
