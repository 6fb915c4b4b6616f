package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/hosts.wasm must
// both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &hostsPipe{}, "../../pipes-wasm/hosts.wasm", "main")
}

func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &hostsPipe{}, "../../pipes-wasm/hosts.wasm")
}

const xffFormat = `$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`

// TestClients checks which address is the client: X-Forwarded-For's first
// entry when there is one (unless x_forwarded_for is false), IPv6 in
// canonical form, IPv4-mapped IPv6 as IPv4.
func TestClients(t *testing.T) {
	log := strings.Join([]string{
		`10.0.0.1 - - [05/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "-" "198.51.100.7, 10.0.0.9"`,
		`10.0.0.1 - - [05/Jan/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 20 "-" "-" "-"`,
		`2001:DB8:0:0:0:0:0:1 - - [05/Jan/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 30 "-" "-" "-"`,
		`::ffff:192.0.2.5 - - [05/Jan/2026:10:00:03 +0000] "GET / HTTP/1.1" 200 40 "-" "-" "-"`,
		`10.0.0.1 - - [05/Jan/2026:10:00:04 +0000] "GET / HTTP/1.1" 200 50 "-" "-" "2001:db8::2"`,
	}, "\n") + "\n"
	for _, tc := range []struct {
		name string
		cfg  map[string]string
		want string
	}{
		{"xff", nil, "hosts,bytes,10.0.0.1 20\nhosts,bytes,192.0.2.5 40\nhosts,bytes,198.51.100.7 10\nhosts,bytes,2001:db8::1 30\nhosts,bytes,2001:db8::2 50\n" +
			"hosts,hits,10.0.0.1 1\nhosts,hits,192.0.2.5 1\nhosts,hits,198.51.100.7 1\nhosts,hits,2001:db8::1 1\nhosts,hits,2001:db8::2 1\n"},
		{"no-xff", map[string]string{"x_forwarded_for": "false"}, "hosts,bytes,10.0.0.1 80\nhosts,bytes,192.0.2.5 40\nhosts,bytes,2001:db8::1 30\n" +
			"hosts,hits,10.0.0.1 3\nhosts,hits,192.0.2.5 1\nhosts,hits,2001:db8::1 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := pipetest.Lines(t, xffFormat, log)
			if got := pipetest.Native(t, &hostsPipe{}, tc.cfg, recs).String(); got != tc.want {
				t.Errorf("native:\n%s\nwant\n%s", got, tc.want)
			}
			if got := pipetest.WASM(t, "../../pipes-wasm/hosts.wasm", tc.cfg, recs).String(); got != tc.want {
				t.Errorf("wasm:\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestBounded sends 200,000 distinct clients beside 20 heavy ones (1 % of
// the lines each): memory stays at max_keys keys, the heavy ones get their
// keys and keys plus _other add up to every hit and byte.
func TestBounded(t *testing.T) {
	var recs []pipeabi.Record
	for i := range 200_000 {
		recs = append(recs, pipeabi.Record{RemoteAddr: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Bytes: 1})
		if i%5 == 0 {
			recs = append(recs, pipeabi.Record{RemoteAddr: fmt.Sprintf("192.0.2.%d", i/5%20), Bytes: 100})
		}
	}
	res := pipetest.Native(t, &hostsPipe{}, map[string]string{"top": "100", "max_keys": "1000"}, recs)
	var hits, bytes float64
	n := 0
	for _, k := range res.Keys() {
		v, _ := res.Value(k)
		switch {
		case strings.HasPrefix(k, "hosts,hits,"):
			hits += v
			n++
		case strings.HasPrefix(k, "hosts,bytes,"):
			bytes += v
		}
	}
	if n > 1001 {
		t.Errorf("%d host keys, want at most 1000 + _other", n)
	}
	if hits != float64(len(recs)) || bytes != 200_000+40_000*100 {
		t.Errorf("keys sum to %v hits and %v bytes, want %d and %d", hits, bytes, len(recs), 200_000+40_000*100)
	}
	for i := range 20 {
		if v, _ := res.Value(fmt.Sprintf("hosts,hits,192.0.2.%d", i)); v < 1900 {
			t.Errorf("192.0.2.%d = %v hits, want about 2000", i, v)
		}
	}
}
