// Package pipetest runs a canopy pipe on records or log lines inside a Go
// test: natively (the pipe's Go value) or from a built .wasm file, through
// the same ABI encoding the daemon uses, and merges the deltas the way the
// tree would.
package pipetest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// BatchSize is the number of records per process call, small enough that
// tests cross batch boundaries.
const BatchSize = 64

// Result is what a pipe emitted over all batches, merged per path by the
// action of the root ruling it, as the daemon's tree would hold it.
type Result struct {
	Manifest *pipeabi.Manifest
	nodes    map[string]*node
}

type node struct {
	action  pipeabi.Action
	value   float64
	samples uint64
	marker  string
	isMark  bool
}

// NewResult returns an empty result for a pipe with manifest m.
func NewResult(m *pipeabi.Manifest) *Result { return newResult(m) }

func newResult(m *pipeabi.Manifest) *Result {
	return &Result{Manifest: m, nodes: map[string]*node{}}
}

// Key joins path segments the way tree keys are written ("%" and ","
// percent-escaped).
func Key(path []string) string {
	esc := make([]string, len(path))
	for i, s := range path {
		s = strings.ReplaceAll(s, "%", "%25")
		esc[i] = strings.ReplaceAll(s, ",", "%2C")
	}
	return strings.Join(esc, ",")
}

// Merge adds a batch of deltas.
func (r *Result) Merge(ds []pipeabi.Delta) {
	for _, d := range ds {
		k := Key(d.Path)
		n := r.nodes[k]
		if n == nil {
			n = &node{action: pipeabi.ActionAdd}
			if i := r.Manifest.RootFor(d.Path); i >= 0 {
				n.action = r.Manifest.Roots[i].Action
			}
			r.nodes[k] = n
		}
		if d.IsMarker {
			n.marker, n.isMark = d.Marker, true
			continue
		}
		switch {
		case n.samples == 0:
			n.value = d.Value
		case n.action == pipeabi.ActionAdd || n.action == pipeabi.ActionAverage:
			n.value += d.Value
		case n.action == pipeabi.ActionMax:
			n.value = math.Max(n.value, d.Value)
		case n.action == pipeabi.ActionMin:
			n.value = math.Min(n.value, d.Value)
		default:
			n.value = d.Value
		}
		n.samples += uint64(d.Count)
	}
}

// Value returns the number at key as the tree shows it (the mean for an
// average) and whether there is one.
func (r *Result) Value(key string) (float64, bool) {
	n := r.nodes[key]
	if n == nil || n.samples == 0 {
		return 0, false
	}
	if n.action == pipeabi.ActionAverage {
		return n.value / float64(n.samples), true
	}
	return n.value, true
}

// Marker returns the marker at key.
func (r *Result) Marker(key string) (string, bool) {
	n := r.nodes[key]
	if n == nil || !n.isMark {
		return "", false
	}
	return n.marker, true
}

// Keys returns every key written, sorted.
func (r *Result) Keys() []string {
	keys := make([]string, 0, len(r.nodes))
	for k := range r.nodes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// String lists "key value" (or key "marker") lines in key order: stable
// enough for golden files.
func (r *Result) String() string {
	var b strings.Builder
	for _, k := range r.Keys() {
		n := r.nodes[k]
		if n.samples > 0 {
			v, _ := r.Value(k)
			fmt.Fprintf(&b, "%s %s\n", k, strconv.FormatFloat(v, 'g', 10, 64))
		}
		if n.isMark {
			fmt.Fprintf(&b, "%s %q\n", k, n.marker)
		}
	}
	return b.String()
}

// Caller is one instance of a pipe at the byte level: the native Runner or
// a WASM instance.
type Caller interface {
	Init(cfg []byte) ([]byte, error)
	Process(batch []byte) ([]byte, error)
}

// Native runs p (the pipe's Go value) over recs with params cfg.
func Native(t testing.TB, p pipe.Pipe, cfg map[string]string, recs []pipeabi.Record) *Result {
	t.Helper()
	run := pipe.NewRunner(p)
	m, err := pipeabi.DecodeManifest(mustOK(t, run.ManifestResult()))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if _, err := wire.CheckStatus(run.Init(EncodeConfig(cfg))); err != nil {
		t.Fatalf("init: %v", err)
	}
	res, err := RunBatches(m, recs, func(b []byte) ([]byte, error) { return run.Process(b), nil })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// RunBatches encodes recs for m's layout in batches of BatchSize, calls
// process on each and merges the decoded deltas.
func RunBatches(m *pipeabi.Manifest, recs []pipeabi.Record, process func([]byte) ([]byte, error)) (*Result, error) {
	layout, err := pipeabi.NewLayout(m.Fields)
	if err != nil {
		return nil, err
	}
	res := newResult(m)
	var buf []byte
	var ds []pipeabi.Delta
	for start := 0; start < len(recs); start += BatchSize {
		end := min(start+BatchSize, len(recs))
		buf = layout.AppendBatch(buf[:0], recs[start:end])
		out, err := process(buf)
		if err != nil {
			return nil, fmt.Errorf("process records %d–%d: %w", start, end-1, err)
		}
		ds, err = pipeabi.DecodeDeltas(ds[:0], out, m)
		if err != nil {
			return nil, fmt.Errorf("process records %d–%d: %w", start, end-1, err)
		}
		res.Merge(ds)
	}
	return res, nil
}

// EncodeConfig encodes params sorted by key, as the host does.
func EncodeConfig(cfg map[string]string) []byte { return host.EncodeParams(cfg) }

func mustOK(t testing.TB, res []byte) []byte {
	t.Helper()
	b, err := wire.CheckStatus(res)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
