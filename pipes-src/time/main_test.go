package main

import (
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/time.wasm must
// both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &timePipe{}, "../../pipes-wasm/time.wasm", "main")
}

func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &timePipe{}, "../../pipes-wasm/time.wasm")
}

// TestZones checks the hour is the log's local one: the same instant
// logged at +0800, -0530 and (by $time_iso8601, no $time_local) with the
// utc_offset param.
func TestZones(t *testing.T) {
	for _, tc := range []struct {
		name, format, line string
		cfg                map[string]string
		want               string
	}{
		{"shanghai", "combined", `1.2.3.4 - - [05/Jan/2026:23:30:00 +0800] "GET / HTTP/1.1" 200 1 "-" "-"`, nil,
			"time,hour,23 1\ntime,weekday,mon 1\n"},
		{"india-west", "combined", `1.2.3.4 - - [04/Jan/2026:10:00:00 -0530] "GET / HTTP/1.1" 200 1 "-" "-"`, nil,
			"time,hour,10 1\ntime,weekday,sun 1\n"},
		{"utc", "combined", `1.2.3.4 - - [05/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`, nil,
			"time,hour,00 1\ntime,weekday,mon 1\n"},
		{"param", "$remote_addr [$time_iso8601] \"$request\" $status", `1.2.3.4 [2026-01-05T15:30:00+00:00] "GET / HTTP/1.1" 200`,
			map[string]string{"utc_offset": "+0900"}, "time,hour,00 1\ntime,weekday,tue 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := pipetest.Lines(t, tc.format, tc.line+"\n")
			if got := pipetest.Native(t, &timePipe{}, tc.cfg, recs).String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
