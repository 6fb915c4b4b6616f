// Command latency is canopy's built-in per-URL latency pipe: for each URL
// of a bounded set, request time ($request_time) and upstream time
// ($upstream_response_time, summed over the upstreams tried) p50, p95, p99
// and max per trend interval and since the start, and the 20 slowest
// requests of each interval (time, method, URL, status, upstream) as
// markers. Percentiles come from fixed logarithmic buckets (γ = 1.0408:
// every value within 2 % of the sample it stands for), which is exact
// enough and costs a logarithm and an increment per sample. Per-interval
// percentiles cannot be merged across instances, so the pipe is serial.
package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/pipes-src/internal/hashtab"
	"github.com/canopy-dev/canopy/pipes-src/internal/strtab"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

// Buckets: index i holds values in (minV·γ^(i-1), minV·γ^i]; a value is
// reported as the bucket's midpoint 2·minV·γ^i/(γ+1), within alpha of
// every value in it.
const (
	alpha = 0.02
	minV  = 1e-6 // 1 µs; smaller (and 0) go to bucket 0
	nBkt  = 600  // up to minV·γ^600 ≈ 27 h
)

var (
	gamma    = (1 + alpha) / (1 - alpha)
	logGamma = math.Log(gamma)
)

func bucketOf(v float64) int {
	if v <= minV {
		return 0
	}
	return min(int(math.Ceil(math.Log(v/minV)/logGamma)), nBkt-1)
}

func valueOf(i int) float64 {
	if i == 0 {
		return 0
	}
	return 2 * minV * math.Pow(gamma, float64(i)) / (gamma + 1)
}

// msBuckets caches bucketOf for whole milliseconds below maxMS: nginx logs
// $request_time and $upstream_response_time in ms, and in Go's WASM build
// the logarithm costs more than the rest of a sample.
const maxMS = 1 << 16

type msBuckets [maxMS]int16 // bucket+1; 0: not computed yet

// cached is bucketOf(v) when v is a whole number of ms already seen, else
// -1 (then call of). It is small enough for Go to inline: in Go's WASM
// build a call per sample cost about as much as the sample's work.
func (c *msBuckets) cached(v float64) int {
	if v >= 0 && v < maxMS/1000.0 {
		if ms := int(v*1000 + 0.5); ms < maxMS && float64(ms)/1000 == v {
			return int(c[ms]) - 1
		}
	}
	return -1
}

// of is bucketOf(v), from the cache when v is a whole number of ms: the
// float64 nearest ms/1000 is both what parsing "0.123" gives and ms/1000.
func (c *msBuckets) of(v float64) int {
	if !(v >= 0 && v < maxMS/1000.0) { // also NaN and ±Inf, before converting
		return bucketOf(v)
	}
	ms := int(v*1000 + 0.5)
	if ms >= maxMS || float64(ms)/1000 != v {
		return bucketOf(v)
	}
	b := c[ms]
	if b == 0 {
		b = int16(bucketOf(v) + 1)
		c[ms] = b
	}
	return int(b - 1)
}

// sketch is one metric's buckets.
type sketch struct {
	b   []uint32
	n   uint64
	max float64
}

// add counts v in bucket i (see msBuckets); s.b must be allocated.
func (s *sketch) add(i int, v float64) {
	s.b[i]++
	s.n++
	if v > s.max { // not max(): for floats Go's WASM build calls runtime.fmax64
		s.max = v
	}
}

// quantile returns the q-quantile (nearest rank) of the samples.
func (s *sketch) quantile(q float64) float64 {
	rank := uint64(math.Ceil(q * float64(s.n)))
	rank = max(rank, 1)
	var cum uint64
	for i, c := range s.b {
		cum += uint64(c)
		if cum >= rank {
			return valueOf(i)
		}
	}
	return s.max
}

// merge adds o's samples to s (the interval into since-start, at a tick:
// one array addition instead of a second bucket update per sample).
func (s *sketch) merge(o *sketch) {
	if o.n == 0 {
		return
	}
	if s.b == nil {
		s.b = make([]uint32, nBkt)
	}
	for i, c := range o.b {
		s.b[i] += c
	}
	s.n += o.n
	s.max = max(s.max, o.max)
}

func (s *sketch) reset() {
	clear(s.b)
	s.n, s.max = 0, 0
}

// url is one URL's state.
type url struct {
	name                   string
	req, up, reqAll, upAll sketch
	hits                   uint32
	kHits                  pipe.Key
}

type slow struct {
	t                float64
	method, path, up string
	status           int64
}

type latencyPipe struct {
	maxPaths   int
	index      *strtab.Map   // path → index in urls
	byHash     hashtab.Table // path_hash → index in urls, -1 for other
	urls       []*url
	other      *url
	slowest    []slow // this interval's slowest, at most nSlow
	nSlow      int
	byDistinct []*url
	bkt        *msBuckets
}

func (*latencyPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "latency", Version: "1.0.0", Serial: true,
		Fields: []string{pipe.FieldPath, pipe.FieldPathHash, pipe.FieldMethod, pipe.FieldStatus, pipe.FieldRequestTime, pipe.FieldUpstream},
		Roots: []pipe.Root{
			{Path: []string{"lat"}, Action: pipe.Add},
			{Path: []string{"latp"}, Action: pipe.Last},
			{Path: []string{"latslow"}, Action: pipe.Last},
		},
	}
}

func (p *latencyPipe) Init(cfg pipe.Config) error {
	var err error
	if p.maxPaths, err = cfg.Int("max_paths", 100); err != nil {
		return err
	}
	if p.nSlow, err = cfg.Int("slowest", 20); err != nil {
		return err
	}
	p.index = strtab.New(p.maxPaths)
	p.other = newURL("_other")
	p.bkt = new(msBuckets)
	return nil
}

func newURL(name string) *url {
	u := &url{name: name, kHits: pipe.NewKey("lat", "hits", name)}
	u.req.b, u.up.b = make([]uint32, nBkt), make([]uint32, nBkt)
	return u
}

// urlOf returns the index in urls of path's URL, -1 for other.
func (p *latencyPipe) urlOf(path string) int32 {
	if len(path) > 256 {
		path = path[:256]
	}
	h := p.index.Hash(path)
	if i, ok := p.index.GetHash(h, path); ok {
		return i
	}
	if len(p.urls) >= p.maxPaths {
		return -1
	}
	path = strings.Clone(path)
	i := int32(len(p.urls))
	p.index.SetHash(h, path, i)
	p.urls = append(p.urls, newURL(path))
	return i
}

// maxHashes bounds byHash (about 13 bytes a slot): past it, new path
// hashes are looked up by their path every batch.
const maxHashes = 1 << 16

// resolve returns the URL of distinct path d, whose hash (path_hash) is h:
// by the hash when seen before (an integer lookup; hashing and comparing
// the path is several times dearer in Go's WASM build, and a batch has a
// thousand distinct paths or more), else by the path. A hash's URL never
// changes: URLs are never dropped, and once maxPaths are kept every new
// path is other for good.
func (p *latencyPipe) resolve(paths pipe.Strings, d int, h uint64) *url {
	i, ok := p.byHash.Get(h)
	if !ok {
		path := paths.Value(d)
		if path == "" {
			path = "-"
		}
		i = p.urlOf(path)
		if p.byHash.Len() < maxHashes {
			p.byHash.Put(h, i)
		}
	}
	if i < 0 {
		return p.other
	}
	return p.urls[i]
}

func (p *latencyPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	paths, methods, hashes := b.Strings(pipe.FieldPath), b.Strings(pipe.FieldMethod), b.Int64s(pipe.FieldPathHash)
	statuses, rts, ups := b.Int64s(pipe.FieldStatus), b.Float64s(pipe.FieldRequestTime), b.Float64Lists(pipe.FieldUpstream)
	if cap(p.byDistinct) < paths.Distinct() {
		p.byDistinct = make([]*url, paths.Distinct())
	}
	byDistinct := p.byDistinct[:paths.Distinct()]
	clear(byDistinct)
	slowBar := p.slowBar() // a local: the list's last entry is two loads away
	for r, d := range paths.Indexes() {
		rt := rts[r]
		up, hasUp := 0.0, false
		for _, v := range ups.At(r) {
			if !math.IsNaN(v) {
				up += v
				hasUp = true
			}
		}
		if math.IsNaN(rt) && !hasUp {
			continue
		}
		u := byDistinct[d]
		if u == nil {
			u = p.resolve(paths, int(d), uint64(hashes[r]))
			byDistinct[d] = u
		}
		u.hits++
		if !math.IsNaN(rt) && rt >= 0 {
			i := p.bkt.cached(rt)
			if i < 0 {
				i = p.bkt.of(rt)
			}
			u.req.add(i, rt)
			if rt > slowBar {
				p.noteSlow(rt, methods.At(r), u.name, statuses[r], up, hasUp)
				slowBar = p.slowBar()
			}
		}
		if hasUp && up >= 0 {
			i := p.bkt.cached(up)
			if i < 0 {
				i = p.bkt.of(up)
			}
			u.up.add(i, up)
		}
	}
}

// slowBar is the time a request must exceed to be among the slowest: -1
// (every time is >= 0) while the list has room, +Inf without a list.
func (p *latencyPipe) slowBar() float64 {
	if p.nSlow <= 0 {
		return math.Inf(1)
	}
	if len(p.slowest) < p.nSlow {
		return -1
	}
	return p.slowest[len(p.slowest)-1].t
}

// noteSlow keeps the interval's nSlow slowest requests.
func (p *latencyPipe) noteSlow(t float64, method, path string, status int64, up float64, hasUp bool) {
	if len(p.slowest) >= p.nSlow && t <= p.slowest[len(p.slowest)-1].t {
		return
	}
	u := "-"
	if hasUp {
		u = fmt.Sprintf("%.3f", up)
	}
	s := slow{t: t, method: strings.Clone(method), path: path, status: status, up: u}
	i := sort.Search(len(p.slowest), func(i int) bool { return p.slowest[i].t < t })
	p.slowest = append(p.slowest, slow{})
	copy(p.slowest[i+1:], p.slowest[i:])
	p.slowest[i] = s
	if len(p.slowest) > p.nSlow {
		p.slowest = p.slowest[:p.nSlow]
	}
}

func (p *latencyPipe) Flush(out *pipe.Out) {
	for _, u := range append(p.urls, p.other) {
		if u.hits > 0 {
			out.EmitKey(&u.kHits, float64(u.hits))
			u.hits = 0
		}
	}
}

// Tick writes each URL's percentiles of the interval and since the start,
// and the interval's slowest requests, then starts the next interval.
func (p *latencyPipe) Tick(now time.Time, out *pipe.Out) {
	for _, u := range append(p.urls, p.other) {
		u.reqAll.merge(&u.req)
		u.upAll.merge(&u.up)
		for _, m := range []struct {
			name string
			s    *sketch
		}{{"req", &u.req}, {"up", &u.up}, {"req_all", &u.reqAll}, {"up_all", &u.upAll}} {
			if m.s.n == 0 {
				continue
			}
			for _, q := range []struct {
				name string
				q    float64
			}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}} {
				out.Emit(m.s.quantile(q.q), "latp", m.name, u.name, q.name)
			}
			out.Emit(m.s.max, "latp", m.name, u.name, "max")
			if m.name == "req" || m.name == "up" {
				m.s.reset()
			}
		}
	}
	if len(p.slowest) == 0 {
		return // an idle interval leaves the last slowest list standing
	}
	for i := range p.nSlow {
		m := "-" // fewer requests than ranks this interval
		if i < len(p.slowest) {
			s := p.slowest[i]
			m = fmt.Sprintf("%.3fs %s %s %d up=%s", s.t, s.method, s.path, s.status, s.up)
		}
		out.Mark(m, "latslow", fmt.Sprintf("%02d", i+1))
	}
	p.slowest = p.slowest[:0]
}

func init() { pipe.Register(&latencyPipe{}) }

func main() { pipe.Main() }
