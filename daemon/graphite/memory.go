package graphite

import (
	"context"
	"fmt"
	"sort"

	"github.com/canopy-dev/canopy/daemon/key"
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
	p, err := key.ParseGraphite(pattern)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrBadRequest)
	}
	start, end := Align(from, until, m.Step)
	var out []Fetched
	for name, pts := range m.Points {
		if !p.MatchKey(key.FromGraphite(name)) {
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
