package graphite

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Memory is a Source over points held in memory: the differential test
// feeds it the points it writes to whisper, and docs examples use it.
type Memory struct {
	Step   int64                        // seconds, like a whisper archive's
	Points map[string]map[int64]float64 // name -> unix second -> value
}

// Fetch answers as whisper does: one value per step slot from the slot
// after from's to until's, the value written in a slot (the last one)
// or NaN.
func (m *Memory) Fetch(ctx context.Context, pattern string, from, until int64) ([]Fetched, error) {
	re, err := Glob(pattern)
	if err != nil {
		return nil, err
	}
	start, end := Align(from, until, m.Step)
	var out []Fetched
	for name, pts := range m.Points {
		if !re.MatchString(name) {
			continue
		}
		vals := make([]float64, (end-start)/m.Step)
		for i := range vals {
			vals[i] = nan
		}
		var ts []int64
		for t := range pts {
			ts = append(ts, t)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		for _, t := range ts {
			slot := t - mod(t, m.Step)
			if slot >= start && slot < end {
				vals[(slot-start)/m.Step] = pts[t]
			}
		}
		out = append(out, Fetched{Name: name, Start: start, Step: m.Step, Values: vals})
	}
	return out, nil
}

// Glob compiles a Graphite path expression into an anchored regexp over
// dotted names: * and ? never cross a dot, [..] is a class, {a,b} are
// alternatives.
func Glob(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	depth := 0
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '*':
			b.WriteString(`[^.]*`)
		case c == '?':
			b.WriteString(`[^.]`)
		case c == '[':
			j := strings.IndexByte(pattern[i+1:], ']')
			if j < 0 {
				return nil, fmt.Errorf("bad path expression %q: unterminated [", pattern)
			}
			class := pattern[i+1 : i+1+j]
			b.WriteByte('[')
			if strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^") {
				b.WriteString("^.")
				class = class[1:]
			}
			for k := 0; k < len(class); k++ {
				if class[k] == '\\' || class[k] == '[' || class[k] == ']' {
					b.WriteByte('\\')
				}
				b.WriteByte(class[k])
			}
			b.WriteByte(']')
			i += 1 + j
		case c == '{':
			depth++
			b.WriteString("(?:")
		case c == '}' && depth > 0:
			depth--
			b.WriteString(")")
		case c == ',' && depth > 0:
			b.WriteString("|")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if depth > 0 {
		return nil, fmt.Errorf("bad path expression %q: unterminated {", pattern)
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("bad path expression %q: %w", pattern, err)
	}
	return re, nil
}
