package trend

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/canopy-dev/canopy/daemon/key"
)

// Series naming. Every tree key maps to one series in both backends:
//
//	br,ie,7 (counter)  <->  canopy{key="br,ie,7", kind="counter"}
//	cpu,h1,marker      <->  canopy_marker{key="cpu,h1,marker", text="…"}
//
// The key is a label value, so it may hold any character and maps back
// without decoding; the metric name stays a valid PromQL name so users of
// a remote VictoriaMetrics can also query it with PromQL
// (rate(canopy{key="requests"}[5m]) works because counters are stored as
// running totals).
const (
	metricNumbers = "canopy"
	metricMarkers = "canopy_marker"
	labelKey      = "key"
	labelKind     = "kind"
	labelText     = "text"
)

// Kind says how a series' values are read.
type Kind uint8

// Series kinds.
const (
	// Gauge values (average, max, min, last nodes) are read as they are.
	Gauge Kind = iota
	// Counter values (add nodes) are stored as running totals and read as
	// increments per interval with fn=rate.
	Counter
	// Marker rows are timed text events.
	Marker
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Marker:
		return "marker"
	}
	return "gauge"
}

func parseKind(s string) Kind {
	switch s {
	case "counter":
		return Counter
	case "marker":
		return Marker
	}
	return Gauge
}

// Row is one timed sample or marker for a key.
type Row struct {
	Key   string
	Kind  Kind
	TS    int64 // unix milliseconds
	Value float64
	Text  string // marker text when Kind == Marker
}

// Matcher selects keys for a backend: an exact key, or a key pattern with
// its regular expression over escaped keys (key.Pattern.Regexp).
type Matcher struct {
	Pattern string // the pattern as the user wrote it; the escaped key when Exact
	Exact   bool   // no wildcard: compare Pattern literally
	Regexp  string // anchored-by-convention regexp (VictoriaMetrics anchors label regexps)
	p       *key.Pattern
}

// Match reports whether the escaped key k is selected.
func (m *Matcher) Match(k string) bool {
	if m.Exact {
		return k == m.Pattern
	}
	return m.p.MatchKey(k)
}

// NewMatcher selects the keys p selects.
func NewMatcher(p *key.Pattern) *Matcher {
	if k, ok := p.Exact(); ok {
		return &Matcher{Pattern: k, Exact: true, Regexp: regexp.QuoteMeta(k), p: p}
	}
	return &Matcher{Pattern: p.String(), Regexp: p.Regexp(), p: p}
}

// compileKey parses a key pattern for a query; unlike a tree read, the
// empty pattern is an error (it would select the root, which has no
// history).
func compileKey(k string) (*Matcher, error) {
	if k == "" {
		return nil, badQuery{errors.New("empty key")}
	}
	p, err := key.Parse(k)
	if err != nil {
		return nil, badQuery{fmt.Errorf("bad %w", err)} // bad key "…": …
	}
	return NewMatcher(p), nil
}

// parentKey returns the key of k's parent ("" for a top-level key).
func parentKey(k string) string {
	i := strings.LastIndexByte(k, ',')
	if i < 0 {
		return ""
	}
	return k[:i]
}

// underOrAt reports whether k equals p or lies below it.
func underOrAt(k, p string) bool {
	if p == "" {
		return true
	}
	return k == p || (len(k) > len(p) && k[len(p)] == ',' && k[:len(p)] == p)
}

// gaugeDigits is how many significant digits a non-integer gauge keeps.
// Averages are ratios with ~16 noisy digits that cost ~6.5 bytes a sample
// on disk; six digits (one part per million, far below what a graph shows)
// bring that to ~3.3 and the realistic mix under 2 bytes. Counters and
// integers are kept exactly: rate sums must equal line counts.
const gaugeDigits = 6

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

func exp10(n int) float64 {
	if n >= 0 && n < len(pow10) {
		return pow10[n]
	}
	return math.Pow(10, float64(n))
}

// storedValue is the number a backend stores for r.
func storedValue(r *Row) float64 {
	v := r.Value
	switch {
	case r.Kind == Marker:
		return 1
	case r.Kind == Counter || v == math.Trunc(v) || math.IsInf(v, 0) || math.IsNaN(v):
		return v
	}
	p := gaugeDigits - 1 - int(math.Floor(math.Log10(math.Abs(v))))
	if p >= 0 {
		s := exp10(p)
		return math.Round(v*s) / s
	}
	s := exp10(-p)
	return math.Round(v/s) * s
}
