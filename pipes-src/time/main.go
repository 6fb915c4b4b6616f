// Command time is canopy's built-in time-distribution pipe (GoAccess's
// "time distribution" panel): hits per hour of the day and per weekday,
// in the log's own local time. The hour is read as the log wrote it: the
// UTC offset comes from $time_local (its "+0800"), else from the utc_offset
// param, so a log written in Shanghai shows its evening peak at 20:00
// whatever the daemon's own zone.
package main

import (
	"fmt"
	"slices"

	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

const fieldTimeLocal = pipeabi.FieldVarPrefix + "time_local"

var weekdays = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// timePipe counts a batch in two arrays and emits once per batch.
type timePipe struct {
	offset  int64 // seconds east of UTC when the format has no $time_local
	hourKey [24]pipe.Key
	dayKey  [7]pipe.Key
	hours   [24]uint32
	days    [7]uint32
	offs    []int64 // per distinct $time_local of the batch: its offset, or noOffset
}

const noOffset = int64(-1) << 62

func (*timePipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "time", Version: "1.0.0",
		Fields: []string{pipe.FieldTime, fieldTimeLocal},
		Roots:  []pipe.Root{{Path: []string{"time"}, Action: pipe.Add}},
	}
}

func (p *timePipe) Init(cfg pipe.Config) error {
	off, ok := parseOffset(cfg.String("utc_offset", "+0000"))
	if !ok {
		return fmt.Errorf("utc_offset %q: want ±HHMM, e.g. +0800", cfg.String("utc_offset", ""))
	}
	p.offset = off
	for h := range p.hourKey {
		p.hourKey[h] = pipe.NewKey("time", "hour", fmt.Sprintf("%02d", h))
	}
	for d := range p.dayKey {
		p.dayKey[d] = pipe.NewKey("time", "weekday", weekdays[d])
	}
	return nil
}

// parseOffset reads "+0800" / "-0530" into seconds east of UTC.
func parseOffset(s string) (int64, bool) {
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	var v [4]int64
	for i := range v {
		c := s[1+i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v[i] = int64(c - '0')
	}
	off := (v[0]*10+v[1])*3600 + (v[2]*10+v[3])*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

func (p *timePipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	times, locals := b.Int64s(pipe.FieldTime), b.Strings(fieldTimeLocal)
	// The offset is the last five bytes of each distinct $time_local.
	// Most distinct values differ only in the clock, not the offset: the
	// five bytes are compared as one number with the previous value's
	// before parsing (a call per distinct value was most of the pipe's
	// cost in Go's WASM build, where a log of a few lines a second has a
	// distinct $time_local per line).
	p.offs = slices.Grow(p.offs[:0], locals.Distinct())
	prevKey, prevOff := uint64(0), noOffset
	for d := range locals.Distinct() {
		s := locals.Value(d)
		off := noOffset
		if n := len(s); n >= 5 {
			key := uint64(s[n-5])<<32 | uint64(s[n-4])<<24 | uint64(s[n-3])<<16 | uint64(s[n-2])<<8 | uint64(s[n-1])
			if key == prevKey {
				off = prevOff
			} else {
				if o, ok := parseOffset(s[n-5:]); ok {
					off = o
				}
				prevKey, prevOff = key, off
			}
		}
		p.offs = append(p.offs, off)
	}
	p.count(times, locals.Indexes())
}

// count adds each line to its local hour and weekday. The divisions cost
// more than the rest of a line in Go's WASM build, and most lines of a
// batch fall in the hour of the line before: count keeps that hour as the
// range [lo, hi) of ns (at offset curOff) and divides only outside it.
func (p *timePipe) count(times []int64, idx []uint32) {
	lo, hi, curOff := int64(1), int64(0), int64(0)
	h, wd := 0, 0
	for i, ns := range times {
		if ns == 0 { // the format has no time
			continue
		}
		off := p.offset
		if i < len(idx) && int(idx[i]) < len(p.offs) && p.offs[idx[i]] != noOffset {
			off = p.offs[idx[i]]
		}
		if ns < lo || ns >= hi || off != curOff {
			sec := floorDiv(ns, 1e9) + off
			sod := floorMod(sec, 86400)
			h, wd = int(sod/3600), int(floorMod(floorDiv(sec, 86400)+4, 7)) // 1970-01-01 was a Thursday
			start := sec - sod%3600 - off                                   // the hour's first second, UTC
			lo, hi, curOff = start*1e9, (start+3600)*1e9, off
		}
		p.hours[h]++
		p.days[wd]++
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

func (p *timePipe) Flush(out *pipe.Out) {
	for h, n := range p.hours {
		if n > 0 {
			out.EmitKey(&p.hourKey[h], float64(n))
			p.hours[h] = 0
		}
	}
	for d, n := range p.days {
		if n > 0 {
			out.EmitKey(&p.dayKey[d], float64(n))
			p.days[d] = 0
		}
	}
}

func init() { pipe.Register(&timePipe{}) }

func main() { pipe.Main() }
