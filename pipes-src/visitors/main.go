// Command visitors is canopy's built-in unique-visitors pipe with
// GoAccess's definition: a visitor is one client IP with one user agent on
// one date (the log's local date); 4xx answers do not make a visitor
// unless count_4xx is true. Per day it writes the visitors, hits and bytes
// (GoAccess's "unique visitors per day" panel) and per hour the distinct
// IP+agent pairs of that hour.
//
// Distinct counts are exact up to exactBelow per day or hour, then a
// HyperLogLog sketch (pipes-src/internal/hll; precision 16 per day,
// 0.41 % standard error, 14 per hour) keeps memory bounded. A distinct
// count cannot be split across instances and summed, so the pipe is serial
// (Manifest.Serial): one instance sees every line. It writes each count as
// deltas: the new estimate minus what it wrote before.
package main

import (
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/canopy-dev/canopy/pipes-src/internal/hashtab"
	"github.com/canopy-dev/canopy/pipes-src/internal/hll"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

const fieldTimeLocal = pipeabi.FieldVarPrefix + "time_local"

// exactBelow is how many distinct visitors a day (or hour) counts exactly,
// as a set of 64-bit hashes, before switching to its sketch.
const exactBelow = 4096

type visitorsPipe struct {
	count4xx bool
	keepDays int

	days  map[int64]*day // by day number since 1970-01-01 (local)
	order []int64        // the days held, in no particular order
	batch int64          // batches seen, to tell which days are idle

	ipHash, uaHash []uint64 // per distinct value of the batch
	offs           []int64
}

// day is one local date's state.
type day struct {
	name     string
	visitors distinct
	hours    [24]*distinct
	hits     float64
	bytes    float64
	kHits    pipe.Key
	kBytes   pipe.Key
	dirty    bool
	last     int64 // the batch that last had a line of the day
}

// idleBatches is how many batches a day must go without a line before it
// may be dropped. Batches reach the one instance in the order the host's
// workers finish parsing them, not the log's (replay runs several at once),
// so a day's last lines may come after the next day's first: dropping days
// by first use made a day recount its visitors from scratch (seen in the
// GoAccess differential with 8,192-line batches). A day stays until no
// batch in flight can still hold it.
const idleBatches = 64

// distinct counts distinct hashes: exactly in a set, then in a sketch.
type distinct struct {
	set     hashtab.Table // exact phase: the hashes seen (a Go map costs ~10× more in WASM)
	keys    []uint64      // the same hashes, to fill the sketch from
	sketch  *hll.Sketch
	prec    uint8
	written float64 // what the tree has
	pending int     // sketch inserts since the last estimate
	key     pipe.Key
	dirty   bool
}

func (d *distinct) insert(h uint64) {
	if d.sketch != nil {
		d.sketch.InsertHash(h)
		d.dirty = true
		d.pending++
		return
	}
	if _, ok := d.set.Get(h); ok {
		return
	}
	d.set.Put(h, 0)
	d.keys = append(d.keys, h)
	d.dirty = true
	if len(d.keys) >= exactBelow {
		d.sketch, _ = hll.New(d.prec) // dense: the exact phase already covers small counts
		for _, x := range d.keys {
			d.sketch.InsertHash(x)
		}
		d.set, d.keys = hashtab.Table{}, nil
	}
}

func (d *distinct) count() float64 {
	if d.sketch != nil {
		return float64(d.sketch.Estimate())
	}
	return float64(len(d.keys))
}

func newDistinct(prec uint8, path ...string) *distinct {
	return &distinct{prec: prec, key: pipe.NewKey(path...)}
}

func (*visitorsPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "visitors", Version: "1.0.0", Serial: true,
		Fields: []string{pipe.FieldTime, fieldTimeLocal, pipe.FieldRemoteAddr, pipe.FieldUserAgent, pipe.FieldStatus, pipe.FieldBytes},
		Roots:  []pipe.Root{{Path: []string{"visitors"}, Action: pipe.Add}},
	}
}

func (p *visitorsPipe) Init(cfg pipe.Config) error {
	p.count4xx = cfg.String("count_4xx", "false") == "true"
	var err error
	if p.keepDays, err = cfg.Int("keep_days", 3); err != nil {
		return err
	}
	p.keepDays = max(p.keepDays, 1)
	p.days = make(map[int64]*day)
	return nil
}

func hashStrings(dst []uint64, s pipe.Strings) []uint64 {
	dst = dst[:0]
	for d := range s.Distinct() {
		dst = append(dst, xxhash.Sum64String(s.Value(d)))
	}
	return dst
}

// offsets returns parseOffset of each distinct value of locals in dst:
// every line's $time_local is a distinct value of its own, so an offset is
// parsed only when its five bytes differ from the previous value's (as one
// integer: a string comparison is a runtime call in Go's WASM build).
func offsets(dst []int64, locals pipe.Strings) []int64 {
	dst = dst[:0]
	last, off := uint64(0), int64(0) // last: the previous five bytes, 0 if none
	for d := range locals.Distinct() {
		v := locals.Value(d)
		var k uint64
		if n := len(v); n >= 5 {
			s := v[n-5 : n]
			k = uint64(s[0])<<32 | uint64(s[1])<<24 | uint64(s[2])<<16 | uint64(s[3])<<8 | uint64(s[4])
		}
		if k == 0 || k != last {
			off, last = parseOffset(v), k
		}
		dst = append(dst, off)
	}
	return dst
}

// parseOffset reads the "+0800" at the end of $time_local into seconds.
func parseOffset(s string) int64 {
	if len(s) < 5 {
		return 0
	}
	s = s[len(s)-5:]
	if s[0] != '+' && s[0] != '-' {
		return 0
	}
	var v int64
	for i := 1; i < 5; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + int64(c-'0')
	}
	off := v/100*3600 + v%100*60
	if s[0] == '-' {
		off = -off
	}
	return off
}

func (p *visitorsPipe) day(n int64) *day {
	if d, ok := p.days[n]; ok {
		d.last = p.batch
		return d
	}
	name := civil(n)
	d := &day{name: name, kHits: pipe.NewKey("visitors", "hits", name), kBytes: pipe.NewKey("visitors", "bytes", name), last: p.batch}
	d.visitors = *newDistinct(16, "visitors", "day", name)
	p.days[n] = d
	p.order = append(p.order, n)
	return d
}

// drop forgets the oldest days beyond keepDays that have been idle for
// idleBatches, writing their counts first.
func (p *visitorsPipe) drop(out *pipe.Out) {
	for len(p.order) > p.keepDays {
		oldest := -1
		for i, n := range p.order {
			if p.batch-p.days[n].last >= idleBatches && (oldest < 0 || n < p.order[oldest]) {
				oldest = i
			}
		}
		if oldest < 0 {
			return
		}
		p.days[p.order[oldest]].write(out, true)
		delete(p.days, p.order[oldest])
		p.order = append(p.order[:oldest], p.order[oldest+1:]...)
	}
}

// civil formats day number n (days since 1970-01-01) as YYYY-MM-DD.
func civil(n int64) string {
	// Howard Hinnant's days_from_civil inverse.
	z := n + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (p *visitorsPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	times, statuses, bytes := b.Int64s(pipe.FieldTime), b.Int64s(pipe.FieldStatus), b.Int64s(pipe.FieldBytes)
	ips, uas, locals := b.Strings(pipe.FieldRemoteAddr), b.Strings(pipe.FieldUserAgent), b.Strings(fieldTimeLocal)
	p.ipHash, p.uaHash = hashStrings(p.ipHash, ips), hashStrings(p.uaHash, uas)
	p.offs = offsets(p.offs, locals)
	p.batch++
	ii, ui, li := ips.Indexes(), uas.Indexes(), locals.Indexes()
	var cur *day
	curN := int64(-1 << 62)
	for r, ns := range times {
		if ns == 0 {
			continue
		}
		sec := floorDiv(ns, 1e9) + p.offs[li[r]]
		n := floorDiv(sec, 86400)
		if n != curN {
			cur, curN = p.day(n), n
		}
		cur.hits++
		if v := bytes[r]; v > 0 {
			cur.bytes += float64(v)
		}
		cur.dirty = true
		if s := statuses[r]; s >= 400 && s < 500 && !p.count4xx {
			continue
		}
		h := p.ipHash[ii[r]]*0x9e3779b97f4a7c15 ^ p.uaHash[ui[r]]
		h ^= h >> 31
		cur.visitors.insert(h)
		hr := (sec - n*86400) / 3600
		if cur.hours[hr] == nil {
			cur.hours[hr] = newDistinct(14, "visitors", "hour", cur.name, fmt.Sprintf("%02d", hr))
		}
		cur.hours[hr].insert(h)
	}
}

func (p *visitorsPipe) Flush(out *pipe.Out) { p.flush(out, false) }

// Tick writes every count, estimating the sketches held back by Flush.
func (p *visitorsPipe) Tick(now time.Time, out *pipe.Out) { p.flush(out, true) }

func (p *visitorsPipe) flush(out *pipe.Out, force bool) {
	for _, n := range p.order {
		if d := p.days[n]; d.dirty || force {
			d.write(out, force)
		}
	}
	p.drop(out)
}

// write emits the day's changes since it last wrote (force: estimate its
// sketches too).
func (d *day) write(out *pipe.Out, force bool) {
	d.dirty = false
	if d.hits > 0 {
		out.EmitKey(&d.kHits, d.hits)
		d.hits = 0
	}
	if d.bytes > 0 {
		out.EmitKey(&d.kBytes, d.bytes)
		d.bytes = 0
	}
	emitCount(&d.visitors, out, force)
	for _, h := range d.hours {
		if h != nil {
			emitCount(h, out, force)
		}
	}
}

// estimateEvery bounds how often a sketch is estimated: an estimate reads
// every register (64 Ki at precision 16, ~1 ms in WASM), so it runs once
// the inserts since the last one reach 1/1000 of the count or 16 Ki, and at
// every tick.
const estimateEvery = 16 << 10

// emitCount writes the change of d's count since it last wrote.
func emitCount(d *distinct, out *pipe.Out, force bool) {
	if !d.dirty {
		return
	}
	if d.sketch != nil && !force && d.pending < max(int(d.written/1000), estimateEvery) {
		return
	}
	d.dirty, d.pending = false, 0
	if c := d.count(); c != d.written {
		out.EmitKey(&d.key, c-d.written)
		d.written = c
	}
}

func init() { pipe.Register(&visitorsPipe{}) }

func main() { pipe.Main() }
