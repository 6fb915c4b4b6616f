package main

import (
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (one line
// has a referrer; see README.md); the native build and the committed
// pipes-wasm/referrers.wasm must both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &referrersPipe{}, "../../pipes-wasm/referrers.wasm", "main")
}

func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &referrersPipe{}, "../../pipes-wasm/referrers.wasm")
}

const hostFormat = `$host $remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// TestExclude checks which referrers count: the site's own $host and the
// exclude list (exact and *.suffix) are left out; hosts are lower-cased and
// keep their port.
func TestExclude(t *testing.T) {
	log := strings.Join([]string{
		`shop.example.org 1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "https://shop.example.org/cart" "-"`,
		`shop.example.org 1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "https://WWW.Google.com/search?q=a,b" "-"`,
		`shop.example.org 1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "http://blog.example.org:8080/post" "-"`,
		`shop.example.org 1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "https://partner.test/" "-"`,
		`shop.example.org 1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`,
	}, "\n") + "\n"
	for _, tc := range []struct {
		name string
		cfg  map[string]string
		want string
	}{
		{"own-host", nil, "ref,site,blog.example.org:8080 1\nref,site,partner.test 1\nref,site,www.google.com 1\n" +
			"ref,url,http://blog.example.org:8080/post 1\nref,url,https://WWW.Google.com/search?q=a%2Cb 1\nref,url,https://partner.test/ 1\n"},
		{"list", map[string]string{"exclude": "*.example.org, partner.test"}, "ref,site,www.google.com 1\nref,url,https://WWW.Google.com/search?q=a%2Cb 1\n"},
		{"keep-own", map[string]string{"exclude_own_host": "false", "exclude": "partner.test,www.google.com,blog.example.org"},
			"ref,site,shop.example.org 1\nref,url,https://shop.example.org/cart 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := pipetest.Lines(t, hostFormat, log)
			if got := pipetest.Native(t, &referrersPipe{}, tc.cfg, recs).String(); got != tc.want {
				t.Errorf("native:\n%s\nwant\n%s", got, tc.want)
			}
			if got := pipetest.WASM(t, "../../pipes-wasm/referrers.wasm", tc.cfg, recs).String(); got != tc.want {
				t.Errorf("wasm:\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
