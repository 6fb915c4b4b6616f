package listen

import (
	"bytes"
	"fmt"
	"strconv"
)

// Metric is one parsed Graphite plaintext line. Byte slices point into the
// line.
type Metric struct {
	Name  []byte
	Value float64
	// Time is the Unix timestamp sent (0 when absent or -1): current
	// lines merge into the tree, older ones go to the trend store at that
	// time (see timeWindow).
	Time int64
	Tags [][]byte // "tag=value" from the tagged form a.b;tag=value
}

// ParseGraphite parses `a.b.c value [timestamp]` (fields separated by
// spaces or tabs; Graphite 1.1 tags as `a.b.c;tag=value`) into m, reusing
// m.Tags.
func ParseGraphite(line []byte, m *Metric) error {
	line = bytes.TrimRight(line, "\r")
	var f [3][]byte
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			break
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if n == len(f) {
			return fmt.Errorf("more than 3 fields (want `path value timestamp`)")
		}
		f[n] = line[i:j]
		n++
		i = j
	}
	switch n {
	case 0:
		return errEmptyLine
	case 1:
		return fmt.Errorf("no value after the path")
	}
	*m = Metric{Tags: m.Tags[:0]}
	name := f[0]
	if semi := bytes.IndexByte(name, ';'); semi >= 0 {
		for t := range bytes.SplitSeq(name[semi+1:], []byte{';'}) {
			if eq := bytes.IndexByte(t, '='); eq <= 0 || eq == len(t)-1 {
				return fmt.Errorf("tag %q is not tag=value", t)
			}
			m.Tags = append(m.Tags, t)
		}
		name = name[:semi]
	}
	if len(name) == 0 {
		return fmt.Errorf("empty metric path")
	}
	m.Name = name
	v, err := parseFloat(f[1])
	if err != nil {
		return err
	}
	m.Value = v
	if n == 3 {
		ts := f[2]
		if bytes.IndexByte(ts, '.') >= 0 { // some senders write fractional seconds
			x, err := strconv.ParseFloat(string(ts), 64)
			if err != nil || x < -1 || x > 1e11 {
				return fmt.Errorf("timestamp %q is not Unix seconds", ts)
			}
			m.Time = int64(x)
		} else {
			t, err := strconv.ParseInt(string(ts), 10, 64)
			if err != nil || t < -1 || t > 1e11 {
				return fmt.Errorf("timestamp %q is not Unix seconds", ts)
			}
			m.Time = max(t, 0)
		}
	}
	return nil
}
