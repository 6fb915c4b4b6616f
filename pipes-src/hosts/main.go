// Command hosts is canopy's built-in hosts pipe (GoAccess's "visitor
// hostnames and IPs" panel): hits and bytes per client IP, the top ones
// with their own keys and the rest under _other (pipes-src/internal/topn,
// bounded memory whatever the number of clients). The client is the first
// address of X-Forwarded-For when the format logs it and the line has one,
// else $remote_addr; IPv6 addresses are written in their canonical form and
// IPv4-mapped ones as IPv4.
package main

import (
	"net/netip"
	"strings"
	"unsafe"

	"github.com/canopy-dev/canopy/pipes-src/internal/topn"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

const fieldXFF = pipeabi.FieldVarPrefix + "http_x_forwarded_for"

type hostsPipe struct {
	useXFF bool
	set    *topn.Set

	remName, xffName []string  // per distinct value of the batch: the client it names
	names            []byte    // this batch's rewritten addresses (client)
	hits             []float64 // per distinct remote_addr
	bytes            []float64
	// lines summed per client when X-Forwarded-For names clients, in the
	// order first seen (map order would make admission differ run to run)
	mixIdx  map[string]int
	mixName []string
	mixVal  [][2]float64
}

func (*hostsPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "hosts", Version: "1.0.0",
		Fields: []string{pipe.FieldRemoteAddr, pipe.FieldBytes, fieldXFF},
		Roots:  []pipe.Root{{Path: []string{"hosts"}, Action: pipe.Add}},
	}
}

func (p *hostsPipe) Init(cfg pipe.Config) error {
	top, err := cfg.Int("top", 100)
	if err != nil {
		return err
	}
	maxKeys, err := cfg.Int("max_keys", 1000)
	if err != nil {
		return err
	}
	capacity, err := cfg.Int("capacity", 2000)
	if err != nil {
		return err
	}
	p.useXFF = cfg.String("x_forwarded_for", "true") != "false"
	p.set = topn.New(top, maxKeys, capacity, 64, []string{"hosts", "hits"}, []string{"hosts", "bytes"})
	p.mixIdx = make(map[string]int)
	return nil
}

// client returns the canonical form of address s ("" for none): IPv6
// compressed and lower-case, IPv4-mapped IPv6 as IPv4. Anything that is not
// an address (a host name) is kept as logged. A rewritten address is
// appended to p.names and aliases it until the next batch (a String per
// IPv6 client cost an allocation, ~0.4 µs in Go's WASM build).
func (p *hostsPipe) client(s string) string {
	if n := len(s); n == 0 || !(s[0] > ' ' && s[0] < 0x80 && s[n-1] > ' ' && s[n-1] < 0x80) {
		s = strings.TrimSpace(s) // only when an end may be a space (a call per client otherwise)
	}
	if s == "-" {
		return ""
	}
	if strings.IndexByte(s, ':') < 0 { // IPv4 or a name: already canonical enough
		return s
	}
	if len(s) > 2 && s[0] == '[' { // [v6]:port
		if i := strings.IndexByte(s, ']'); i > 0 {
			s = s[1:i]
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s) // v4:port
		if err != nil {
			return s
		}
		a = ap.Addr()
	}
	start := len(p.names)
	p.names = a.Unmap().AppendTo(p.names)
	// A grown buffer leaves earlier names in the old one, which stays
	// alive while they point into it.
	return unsafe.String(&p.names[start], len(p.names)-start)
}

// firstXFF returns the client of an X-Forwarded-For value: its first entry.
func (p *hostsPipe) firstXFF(s string) string {
	if i := strings.IndexByte(s, ','); i >= 0 {
		s = s[:i]
	}
	return p.client(s)
}

func (p *hostsPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	rem, bytes := b.Strings(pipe.FieldRemoteAddr), b.Int64s(pipe.FieldBytes)
	p.remName, p.names = p.remName[:0], p.names[:0]
	for d := range rem.Distinct() {
		p.remName = append(p.remName, p.client(rem.Value(d)))
	}
	anyXFF := false
	p.xffName = p.xffName[:0]
	if p.useXFF {
		xff := b.Strings(fieldXFF)
		for d := range xff.Distinct() {
			c := p.firstXFF(xff.Value(d))
			anyXFF = anyXFF || c != ""
			p.xffName = append(p.xffName, c)
		}
	}
	if anyXFF {
		p.byRecord(b, rem, bytes)
		return
	}
	n := rem.Distinct()
	p.hits, p.bytes = grow(p.hits, n), grow(p.bytes, n)
	for r, d := range rem.Indexes() {
		p.hits[d]++
		if v := bytes[r]; v > 0 {
			p.bytes[d] += float64(v)
		}
	}
	for d, h := range p.hits {
		if h > 0 && p.remName[d] != "" {
			p.set.Add(p.remName[d], h, p.bytes[d])
		}
	}
}

// byRecord counts a batch where some lines name their client in
// X-Forwarded-For: the client differs per line, so lines are summed per
// name in a map.
func (p *hostsPipe) byRecord(b *pipe.Batch, rem pipe.Strings, bytes []int64) {
	xi := b.Strings(fieldXFF).Indexes()
	for r, d := range rem.Indexes() {
		c := p.xffName[xi[r]]
		if c == "" {
			c = p.remName[d]
		}
		if c == "" {
			continue
		}
		i, ok := p.mixIdx[c]
		if !ok {
			i = len(p.mixName)
			p.mixIdx[c] = i
			p.mixName = append(p.mixName, c)
			p.mixVal = append(p.mixVal, [2]float64{})
		}
		p.mixVal[i][0]++
		if bytes[r] > 0 {
			p.mixVal[i][1] += float64(bytes[r])
		}
	}
	for i, c := range p.mixName {
		p.set.Add(c, p.mixVal[i][0], p.mixVal[i][1])
	}
	clear(p.mixIdx)
	p.mixName, p.mixVal = p.mixName[:0], p.mixVal[:0]
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		s = make([]float64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func (p *hostsPipe) Flush(out *pipe.Out) { p.set.Flush(out) }

func init() { pipe.Register(&hostsPipe{}) }

func main() { pipe.Main() }
