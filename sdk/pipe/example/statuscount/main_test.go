package main

import (
	"os"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

func records() []pipeabi.Record {
	var recs []pipeabi.Record
	for i := range 150 { // crosses pipetest.BatchSize
		recs = append(recs, pipeabi.Record{Status: 200 + 100*(i%4), Method: []string{"GET", "POST"}[i%2], Bytes: int64(i)})
	}
	return append(recs, pipeabi.Record{Status: 502, Method: "GET", Bytes: -1})
}

var want = map[string]float64{
	"hits,2xx": 38, "hits,3xx": 38, "hits,4xx": 37, "hits,5xx": 38,
	"hits,largest,GET": 148, "hits,largest,POST": 149,
}

func check(t *testing.T, res *pipetest.Result) {
	t.Helper()
	for k, w := range want {
		if got, ok := res.Value(k); !ok || got != w {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, w)
		}
	}
	if got := len(res.Keys()); got != len(want) {
		t.Errorf("wrote %d keys, want %d:\n%s", got, len(want), res)
	}
}

func TestNative(t *testing.T) {
	check(t, pipetest.Native(t, &statusCount{}, nil, records()))
}

func TestWASM(t *testing.T) {
	wasm := pipetest.Build(t, ".")
	check(t, pipetest.WASM(t, wasm, nil, records()))
}

func TestLines(t *testing.T) {
	recs := pipetest.Lines(t, "combined", `
127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /a HTTP/1.1" 200 2326 "-" "curl/8.5.0"
127.0.0.1 - - [10/Oct/2025:13:55:37 +0000] "POST /b HTTP/1.1" 503 17 "-" "curl/8.5.0"
`)
	res := pipetest.Native(t, &statusCount{}, nil, recs)
	if got := res.String(); got != "hits,2xx 1\nhits,5xx 1\nhits,largest,GET 2326\nhits,largest,POST 17\n" {
		t.Errorf("got\n%s", got)
	}
}

// TestReadmeShowsThisPipe keeps sdk/pipe/README.md's example identical to
// this file, and under 40 lines.
func TestReadmeShowsThisPipe(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```go\n"+string(src)+"```") {
		t.Errorf("sdk/pipe/README.md does not show example/statuscount/main.go as it is")
	}
	if n := strings.Count(string(src), "\n"); n >= 40 {
		t.Errorf("the example pipe has %d lines, want under 40", n)
	}
}
