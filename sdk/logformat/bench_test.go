package logformat

import (
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the CPU time of the calling OS thread: on a machine shared
// with other work, lines per CPU-second is the parser's own speed.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchLines = map[string][]string{
	"combined": {
		`203.0.113.9 - - [10/Oct/2023:13:55:36 -0700] "GET /a/b.html?x=1&y=2 HTTP/1.1" 200 2326 "http://example.com/start" "` + chromeUA + `"`,
		`198.51.100.23 - - [10/Oct/2023:13:55:37 -0700] "GET /static/app.js HTTP/1.1" 304 0 "-" "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; SE 2.X MetaSr 1.0; SE 2.X MetaSr 1.0; .NET CLR 2.0.50727; SE 2.X MetaSr 1.0)"`,
	},
	"main": {
		`203.0.113.9 - - [10/Oct/2023:13:55:36 -0700] "GET /a/b.html?x=1&y=2 HTTP/1.1" 200 2326 "http://example.com/start" "` + chromeUA + `" 0.012 0.010`,
		`198.51.100.23 - - [10/Oct/2023:13:55:37 -0700] "POST /api/v1/order HTTP/1.1" 502 157 "-" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1" 1.020 0.500, 0.510`,
	},
	"json": {
		`{"time_iso8601":"2023-10-10T13:55:36-07:00","remote_addr":"203.0.113.9","request":"GET /a/b.html?x=1&y=2 HTTP/1.1","status":200,"body_bytes_sent":2326,"http_referer":"http://example.com/start","http_user_agent":"` + chromeUA + `","request_time":0.012,"upstream_response_time":"0.010"}`,
	},
}

// BenchmarkParse reports the CPU time and bytes allocated per line for
// each preset, with user-agent classification through the parser's cache
// as in the daemon. "…-varied" cycles through generated lines of the
// differential test (odd fields, bad lines, a few dozen agents).
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"combined", "main", "json"} {
		b.Run(name, func(b *testing.B) {
			lines := make([][]byte, len(benchLines[name]))
			for i, s := range benchLines[name] {
				lines[i] = []byte(s)
			}
			benchParse(b, MustCompile(name).NewParser(), lines, true)
		})
	}
	for _, i := range []int{0, 1} {
		b.Run(variedFormats[i]+"-varied", func(b *testing.B) {
			benchParse(b, MustCompile(variedFormats[i]).NewParser(), variedLog(2, i, 10000), false)
		})
	}
}

func benchParse(b *testing.B, p *Parser, lines [][]byte, mustParse bool) {
	var r Record
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		if err := p.Parse(lines[i%len(lines)], &r); err != nil && mustParse {
			b.Fatal(err)
		}
	}
	cpu := threadCPU() - cpu0
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "lines/cpu-s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "ns/line")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N), "B/line")
}

// BenchmarkClassifyUserAgent is the uncached cost of one classification.
func BenchmarkClassifyUserAgent(b *testing.B) {
	uas := []string{chromeUA, strings.Split(benchLines["combined"][1], `"`)[5], "curl/8.4.0",
		`Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1`}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = ClassifyUserAgent(uas[i%len(uas)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "agents/s")
}
