package main

import (
	"os"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// hostFormat is the format of testdata/access.log: combined with $host in
// front.
const hostFormat = `$host $remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// TestGolden checks testdata/want.txt, computed by hand from
// testdata/access.log (see README.md), natively and with the committed
// pipes-wasm/vhosts.wasm.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &vhostsPipe{}, "../../pipes-wasm/vhosts.wasm", hostFormat)
}

// TestNoHost checks a format without a host writes nothing.
func TestNoHost(t *testing.T) {
	b, err := os.ReadFile("../status/testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	if got := pipetest.Native(t, &vhostsPipe{}, nil, pipetest.Lines(t, "main", string(b))).String(); got != "" {
		t.Errorf("wrote\n%s\nwant nothing", got)
	}
}

func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &vhostsPipe{}, "../../pipes-wasm/vhosts.wasm")
}
