package listen

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// StatKind is the type of a StatsD metric.
type StatKind uint8

// The StatsD metric types. Histograms (h) and distributions (d) from
// DogStatsD are read as timers: canopy keeps an average and buckets for all
// three.
const (
	StatCounter StatKind = iota // c
	StatGauge                   // g
	StatTimer                   // ms, h, d
	StatSet                     // s
)

// Stat is one parsed StatsD line. Byte slices point into the line.
type Stat struct {
	Name  []byte
	Kind  StatKind
	Value float64 // unused for sets
	Raw   []byte  // the value as sent (the member of a set)
	// Delta is true for a gauge sent with an explicit sign: "+3" or "-3"
	// changes the gauge rather than replacing it.
	Delta bool
	Rate  float64 // sample rate, 1 when absent
	Tags  [][]byte
}

var errEmptyLine = errors.New("empty line")

// ParseStatsD parses one line `name:value|type[|@rate][|#tag:v,tag2:v]`
// into s, reusing s.Tags. Errors say what is wrong with the line.
func ParseStatsD(line []byte, s *Stat) error {
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return errEmptyLine
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return fmt.Errorf("no ':' between name and value")
	}
	name := line[:colon]
	if len(name) == 0 {
		return fmt.Errorf("empty metric name")
	}
	rest := line[colon+1:]
	bar := bytes.IndexByte(rest, '|')
	if bar < 0 {
		return fmt.Errorf("no '|' before the metric type")
	}
	raw := rest[:bar]
	rest = rest[bar+1:]
	typ := rest
	if bar := bytes.IndexByte(rest, '|'); bar >= 0 {
		typ, rest = rest[:bar], rest[bar+1:]
	} else {
		rest = nil
	}
	*s = Stat{Name: name, Raw: raw, Rate: 1, Tags: s.Tags[:0]}
	switch string(typ) {
	case "c":
		s.Kind = StatCounter
	case "g":
		s.Kind = StatGauge
	case "ms", "h", "d":
		s.Kind = StatTimer
	case "s":
		s.Kind = StatSet
	default:
		return fmt.Errorf("unknown metric type %q (want c, g, ms, h, d or s)", typ)
	}
	if len(raw) == 0 {
		return fmt.Errorf("empty value")
	}
	if s.Kind != StatSet {
		if s.Kind == StatGauge && (raw[0] == '+' || raw[0] == '-') {
			s.Delta = true
		}
		v, err := parseFloat(raw)
		if err != nil {
			return err
		}
		s.Value = v
	}
	for len(rest) > 0 {
		field := rest
		if bar := bytes.IndexByte(rest, '|'); bar >= 0 {
			field, rest = rest[:bar], rest[bar+1:]
		} else {
			rest = nil
		}
		switch {
		case len(field) > 1 && field[0] == '@':
			r, err := parseFloat(field[1:])
			if err != nil {
				return fmt.Errorf("bad sample rate: %w", err)
			}
			if !(r > 0 && r <= 1) {
				return fmt.Errorf("sample rate %v is not in (0, 1]", r)
			}
			s.Rate = r
		case len(field) > 0 && field[0] == '#':
			for t := range bytes.SplitSeq(field[1:], []byte{','}) {
				if len(t) > 0 {
					s.Tags = append(s.Tags, t)
				}
			}
		case len(field) > 1 && field[0] == 'c' && field[1] == ':':
			// DogStatsD container id: not part of the metric.
		case len(field) > 1 && field[0] == 'T':
			// DogStatsD timestamp: the tree keeps no timestamps.
		default:
			return fmt.Errorf("unknown field %q after the metric type", field)
		}
	}
	return nil
}

// parseFloat parses a finite number without allocating.
func parseFloat(b []byte) (float64, error) {
	// Most StatsD values are small integers: take the fast path.
	if n, ok := parseSmallInt(b); ok {
		return float64(n), nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number", b)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("value %q is not a finite number", b)
	}
	return v, nil
}

func parseSmallInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
