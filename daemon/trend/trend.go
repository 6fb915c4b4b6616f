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
	"math"
	"strconv"
	"time"
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

// Fn is how a gauge's samples in one bucket are combined into its point.
type Fn string

// The read functions of GET /trend/KEY?fn=.
const (
	FnAuto Fn = ""     // avg for gauges; counters follow as (see As)
	FnAvg  Fn = "avg"  // mean of the values in the interval
	FnMax  Fn = "max"  // largest value
	FnMin  Fn = "min"  // smallest value
	FnSum  Fn = "sum"  // sum of the values (counters: as=count)
	FnLast Fn = "last" // last value
	FnRate Fn = "rate" // gauges: change during the interval; counters: as=rate
)

// ParseFn checks a fn query parameter.
func ParseFn(s string) (Fn, error) {
	switch f := Fn(s); f {
	case FnAuto, FnAvg, FnMax, FnMin, FnSum, FnLast, FnRate:
		return f, nil
	}
	return "", badQuery{fmt.Errorf("unknown fn %q (want avg, max, min, sum, last or rate)", s)}
}

// As is what a counter's points mean (GET /trend/KEY?as=).
type As string

// The readings of a counter.
const (
	AsAuto  As = ""      // rate, unless fn says otherwise (see resolve)
	AsRate  As = "rate"  // increase per second over each interval
	AsCount As = "count" // increase during each interval
	AsTotal As = "total" // running total at the end of each interval
)

// ParseAs checks an as query parameter.
func ParseAs(s string) (As, error) {
	switch a := As(s); a {
	case AsAuto, AsRate, AsCount, AsTotal:
		return a, nil
	}
	return "", badQuery{fmt.Errorf("unknown as %q (want rate, count or total)", s)}
}

// ReadOptions say what a read returns.
type ReadOptions struct {
	From, Until time.Time
	// Points is the most buckets per series (default 1,000, at most
	// MaxPoints); the step is the smallest that fits, rounded.
	Points int
	// Step, when > 0, is the bucket width itself (whole milliseconds;
	// Points is ignored): buckets start at multiples of it since the
	// epoch, as Graphite's do.
	Step time.Duration
	// Fn combines a gauge's samples in a bucket (default avg).
	Fn Fn
	// As is what a counter's points are (default rate per second).
	As As
	// KeepEmpty keeps series that have history before the range but no
	// value inside it (all points NaN), as Graphite lists them.
	KeepEmpty bool
}

// Point is one output point, written as [unix_ms, value].
type Point struct {
	T int64
	V float64
}

// MarshalJSON writes [t, v], with null for a NaN (no sample).
func (p Point) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = append(b, '[')
	b = strconv.AppendInt(b, p.T, 10)
	b = append(b, ',')
	if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendFloat(b, p.V, 'g', -1, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads [t, v]; a null v is NaN.
func (p *Point) UnmarshalJSON(b []byte) error {
	var a [2]*float64
	if err := json.Unmarshal(b, &a); err != nil || a[0] == nil {
		return fmt.Errorf("trend point: want [unix_ms, value]: %s", b)
	}
	p.T, p.V = int64(*a[0]), math.NaN()
	if a[1] != nil {
		p.V = *a[1]
	}
	return nil
}

// Series is one key's downsampled history: a point for every bucket from
// Result.First to Until, step by step, V NaN (JSON null) where there is
// no value (see the rules in kernel.go).
type Series struct {
	Key  string `json:"key"`
	Kind string `json:"kind"`         // counter or gauge
	Fn   Fn     `json:"fn,omitempty"` // gauges: how samples were combined
	As   As     `json:"as,omitempty"` // counters: rate, count or total
	// Unit is what the values are in (the node's declared unit, per
	// second for a rate); the store knows none, the API fills it in.
	Unit   string  `json:"unit,omitempty"`
	Points []Point `json:"points"`
}

// Values returns the points' values (NaN: none), for callers that keep
// series as a start, a step and values.
func (s *Series) Values() []float64 {
	out := make([]float64, len(s.Points))
	for i, p := range s.Points {
		out[i] = p.V
	}
	return out
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
	First   int64         `json:"first"` // unix ms: the first bucket's start
	StepMS  int64         `json:"step_ms"`
	Series  []Series      `json:"series"`
	Markers []MarkerEvent `json:"markers"`
}
