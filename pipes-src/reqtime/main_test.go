package main

import (
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/reqtime.wasm must
// both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &reqtime{}, "../../pipes-wasm/reqtime.wasm", "main")
}

// BenchmarkPipe measures this pipe natively and as WASM in the same run on
// generated lines; ns/line excludes parsing (done once, up front).
func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &reqtime{}, "../../pipes-wasm/reqtime.wasm")
}

// TestBuckets checks the buckets param and its errors.
func TestBuckets(t *testing.T) {
	res := pipetest.Native(t, &reqtime{}, map[string]string{"buckets": "1, 0.1"}, pipetest.TestdataRecords(t, "main"))
	// 14 times: 9 are <= 0.1 s, 12 are <= 1 s (counted by hand).
	if got := res.String(); got != "reqtime,avg 0.3629285714\nreqtime,le,+Inf 14\nreqtime,le,0.1 9\nreqtime,le,1 12\nreqtime,sum 5.081\n" {
		t.Errorf("got\n%s", got)
	}
	for _, bad := range []string{"x", "-1", "NaN", "1,,Inf"} {
		if err := (&reqtime{}).Init(map[string]string{"buckets": bad}); err == nil {
			t.Errorf("buckets=%q accepted", bad)
		}
	}
}
