package pipeabi

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// allFields is every record field, two variables included.
var allFields = []string{FieldTime, FieldStatus, FieldBytes, FieldRequestTime, FieldUpstream, FieldMethod,
	FieldPath, FieldQuery, FieldProtocol, FieldUserAgent, FieldReferer, FieldRemoteAddr, FieldHost,
	FieldUA, FieldUABrowser, FieldUABrowserMajor, FieldUAOS, FieldUAOSVersion, FieldUAVendor, FieldUABot,
	FieldUAClass, FieldUAClassHash, FieldPathHash, "var:x", "var:y"}

// randomRecords returns n records whose string fields draw from pools of
// distinct values of the given size (1: all equal; above n: mostly
// distinct), with empty and long values, equal values in shared and in
// separate memory, values at one address of different lengths,
// and variables absent, reordered or listed twice.
func randomRecords(rng *rand.Rand, n, distinct int) []Record {
	pool := func(prefix string) []string {
		p := make([]string, distinct)
		for i := range p {
			switch rng.IntN(8) {
			case 0:
				p[i] = ""
			case 2:
				if i > 0 { // the same address as the value before, shorter
					p[i] = p[i-1][:len(p[i-1])/2]
					break
				}
				p[i] = prefix
			case 1:
				p[i] = prefix + strings.Repeat("long/", 10+rng.IntN(40)) + fmt.Sprint(i)
			default:
				p[i] = fmt.Sprintf("%s%d", prefix, rng.IntN(2*distinct))
			}
		}
		return p
	}
	pools := make([][]string, 16)
	for i := range pools {
		pools[i] = pool(fmt.Sprintf("f%d-", i))
	}
	pick := func(f int) string {
		v := pools[f][rng.IntN(distinct)]
		if rng.IntN(2) == 0 {
			return strings.Clone(v) // equal values need not share memory
		}
		return v
	}
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		*r = Record{Time: rng.Int64(), Status: rng.IntN(600), Bytes: rng.Int64N(1e6) - 1, RequestTime: rng.Float64(),
			Method: pick(0), Path: pick(1), Query: pick(2), Protocol: pick(3), UserAgent: pick(4), Referer: pick(5),
			RemoteAddr: pick(6), Host: pick(7), AgentClass: pick(8),
			Agent: Agent{pick(9), pick(10), pick(11), pick(12), pick(13), pick(14)}}
		if rng.IntN(4) == 0 {
			r.RequestTime = math.NaN()
		}
		for range rng.IntN(4) {
			r.UpstreamTimes = append(r.UpstreamTimes, rng.Float64())
		}
		for _, name := range []string{"x", "y", "x", "z"}[:rng.IntN(5)] {
			r.Vars = append(r.Vars, Var{name, pick(15)})
		}
		if rng.IntN(3) == 0 {
			rng.Shuffle(len(r.Vars), func(a, b int) { r.Vars[a], r.Vars[b] = r.Vars[b], r.Vars[a] })
		}
		if rng.IntN(2) == 0 { // hashes already computed (by an earlier layout)
			computeHashes(r)
		}
	}
	return recs
}

// computeHashes computes r's hashes as the encoder does.
func computeHashes(r *Record) {
	r.int64Field(kindPathHash)
	r.int64Field(kindUAClassHash)
}

// TestEncodeSameAsReference: SharedColumns writes the bytes of the
// reference encoders, Columns and Layout.AppendBatch (a Go map per str
// column), for record sets of many sizes and value distributions, every
// field, in layouts of several orders, across Resets.
func TestEncodeSameAsReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	layouts := [][]string{allFields, slices.Clone(allFields)}
	rng.Shuffle(len(layouts[1]), func(a, b int) { layouts[1][a], layouts[1][b] = layouts[1][b], layouts[1][a] })
	layouts = append(layouts, []string{FieldPath}, []string{FieldPathHash, FieldPath}, []string{FieldPath, FieldPathHash},
		[]string{FieldUAClass, FieldUAClassHash}, []string{"var:y", FieldMethod}, []string{"var:x", "var:z"})
	var cols SharedColumns
	var ref Columns
	for _, size := range []int{0, 1, 2, 3, 17, 256, 5000} {
		for _, distinct := range []int{1, 2, 9, 300, 20000} {
			recs := randomRecords(rng, size, distinct)
			recsRef := slices.Clone(recs)
			cols.Reset(recs)
			ref.Reset(recsRef)
			for li, fields := range layouts {
				l, err := NewLayout(fields)
				if err != nil {
					t.Fatal(err)
				}
				want := ref.AppendBatch([]byte("pfx"), l)
				if got := cols.AppendBatch([]byte("pfx"), l); !bytes.Equal(got, want) {
					t.Errorf("%d records, %d distinct, layout %d: SharedColumns gives %d bytes, the reference %d; first difference at %d",
						size, distinct, li, len(got), len(want), firstDiff(got, want))
				}
				if got := l.AppendBatch([]byte("pfx"), slices.Clone(recs)); !bytes.Equal(got, want) {
					t.Errorf("%d records, %d distinct, layout %d: Layout.AppendBatch gives %d bytes, Columns %d; first difference at %d",
						size, distinct, li, len(got), len(want), firstDiff(got, want))
				}
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestEncodeCollidingValues: values whose hashes all land on one slot run
// the table's probes long; the column then comes from Encoder's map, the
// same bytes.
func TestEncodeCollidingValues(t *testing.T) {
	var recs []Record
	for i := 0; len(recs) < 200; i++ {
		if s := fmt.Sprint("/p", i); xxhash.Sum64String(s)%512 == 0 {
			recs = append(recs, Record{Path: s, Method: s})
		}
	}
	recs = append(recs, recs[:50]...)
	l, err := NewLayout([]string{FieldMethod, FieldPath})
	if err != nil {
		t.Fatal(err)
	}
	var cols SharedColumns
	cols.Reset(recs)
	if got, want := cols.AppendBatch(nil, l), l.AppendBatch(nil, slices.Clone(recs)); !bytes.Equal(got, want) {
		t.Errorf("SharedColumns gives %d bytes, Layout.AppendBatch %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	if !cols.enc.dict.long {
		t.Errorf("the table's probes never ran long: the test does not reach the fallback")
	}
}
