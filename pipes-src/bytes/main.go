// Command bytes is canopy's built-in response-size pipe: the total response
// bytes (bytes,total, added up) and the average per request (bytes,avg).
// Lines whose size is absent or `-` are skipped.
package main

import "github.com/canopy-dev/canopy/sdk/pipe"

// bytesPipe sums a batch and emits it once (pipe.Flusher): two Emits per
// batch instead of two per line.
type bytesPipe struct {
	total, avg pipe.Key
	sum        float64
	n          uint32
}

func (*bytesPipe) Manifest() pipe.Manifest {
	return pipe.Manifest{
		Name: "bytes", Version: "1.0.0",
		Fields: []string{pipe.FieldBytes},
		Roots: []pipe.Root{
			{Path: []string{"bytes"}, Action: pipe.Add},
			{Path: []string{"bytes", "avg"}, Action: pipe.Average},
		},
	}
}

func (p *bytesPipe) Init(pipe.Config) error {
	p.total, p.avg = pipe.NewKey("bytes", "total"), pipe.NewKey("bytes", "avg")
	return nil
}

func (p *bytesPipe) ProcessBatch(b *pipe.Batch, out *pipe.Out) {
	for _, v := range b.Int64s(pipe.FieldBytes) {
		if v >= 0 {
			p.sum += float64(v)
			p.n++
		}
	}
}

func (p *bytesPipe) Flush(out *pipe.Out) {
	if p.n == 0 {
		return
	}
	out.EmitKey(&p.total, p.sum)
	out.EmitKeySamples(&p.avg, p.sum, p.n)
	p.sum, p.n = 0, 0
}

func init() { pipe.Register(&bytesPipe{}) }

func main() { pipe.Main() }
