// Command vhosts is canopy's built-in virtual-hosts pipe (GoAccess's
// "virtual hosts" panel): hits and bytes per $host (else $server_name, else
// $http_host) when the log format has one; a format without writes
// nothing. A bounded top-N (pipes-src/internal/topn) keeps a flood of
// made-up Host headers from growing the tree.
package main

import (
	"strings"

	"github.com/canopy-dev/canopy/pipes-src/internal/topn"
	"github.com/canopy-dev/canopy/sdk/pipe"
)

type vhostsPipe struct {
	set   *topn.Set
	names []string
	hits  []float64
	bytes []float64
}

func (*vhostsPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "vhosts", Version: "1.0.0",
		Fields: []string{pipe.FieldHost, pipe.FieldBytes},
		Roots:  []pipe.Root{{Path: []string{"vhosts"}, Action: pipe.Add}},
	}
}

func (p *vhostsPipe) Init(cfg pipe.Config) error {
	top, err := cfg.Int("top", 100)
	if err != nil {
		return err
	}
	maxKeys, err := cfg.Int("max_keys", 500)
	if err != nil {
		return err
	}
	capacity, err := cfg.Int("capacity", 1000)
	if err != nil {
		return err
	}
	p.set = topn.New(top, maxKeys, capacity, 128, []string{"vhosts", "hits"}, []string{"vhosts", "bytes"})
	return nil
}

func (p *vhostsPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	hosts, bytes := b.Strings(pipe.FieldHost), b.Int64s(pipe.FieldBytes)
	n := hosts.Distinct()
	if n == 1 && hosts.Value(0) == "" { // the format has no host
		return
	}
	p.names = p.names[:0]
	for d := range n {
		p.names = append(p.names, strings.ToLower(hosts.Value(d)))
	}
	p.hits, p.bytes = grow(p.hits, n), grow(p.bytes, n)
	for r, d := range hosts.Indexes() {
		p.hits[d]++
		if v := bytes[r]; v > 0 {
			p.bytes[d] += float64(v)
		}
	}
	for d, h := range p.hits {
		if h > 0 && p.names[d] != "" && p.names[d] != "-" {
			p.set.Add(p.names[d], h, p.bytes[d])
		}
	}
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		s = make([]float64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func (p *vhostsPipe) Flush(out *pipe.Out) { p.set.Flush(out) }

func init() { pipe.Register(&vhostsPipe{}) }

func main() { pipe.Main() }
