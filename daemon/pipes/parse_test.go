package pipes

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// combinedLines is a generated day of traffic in nginx's "combined" format.
var combinedLines = sync.OnceValues(func() ([][]byte, error) {
	lines, _, err := loggen.Lines(loggen.Config{Lines: 100_000, Seed: 1, Format: "combined", Span: 24 * time.Hour})
	return lines, err
})

// threadCPUTime is the CPU time of the calling OS thread: on a shared
// machine, CPU per line is the parser's own cost, wall time is not.
func threadCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParseCombined is the host's per-line work before any pipe runs,
// as runBatch does it (worker.parseBatch, batches of DefaultBatchSize
// lines, with the user agent classified and tokenised for the pipes that
// take it and no pipe reading var:NAME). An op is one line. "log" cycles
// through 100k lines (~22 MB, so each line comes from memory); "batch"
// through one batch (cache-resident as lines just read are).
func BenchmarkParseCombined(b *testing.B) {
	lines, err := combinedLines()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("log", func(b *testing.B) { benchParse(b, lines) })
	b.Run("batch", func(b *testing.B) { benchParse(b, lines[:DefaultBatchSize]) })
}

func benchParse(b *testing.B, lines [][]byte) {
	formats := []*logformat.Format{logformat.MustCompile("combined")}
	w := &worker{parsers: map[*logformat.Format]*logformat.Parser{}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPUTime()
	bad, off := 0, 0
	for n := 0; n < b.N; {
		end := min(off+DefaultBatchSize, len(lines), off+b.N-n)
		var res Result
		recs := w.parseBatch(formats, lines[off:end], true, false, 0, &res)
		for i := range recs {
			if r := &recs[i]; !r.UAParsed { // the lazy path when no pipe classifies
				r.UA, r.UAParsed = pipeabi.TokenizeUA(r.UA, r.UserAgent), true
			}
		}
		bad += res.Bad
		n += end - off
		if off = end; off == len(lines) {
			off = 0
		}
	}
	cpu := threadCPUTime() - cpu0
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	if bad > 0 {
		b.Fatalf("%d of %d generated lines did not parse", bad, b.N)
	}
	n := float64(b.N)
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "ns/line")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/line")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/line")
}

// TestWantsFields checks which manifests make the parser classify user
// agents and record raw variables.
func TestWantsFields(t *testing.T) {
	for _, tc := range []struct {
		fields      []string
		ua, rawVars bool
	}{
		{[]string{pipeabi.FieldStatus}, false, false},
		{[]string{pipeabi.FieldUA}, true, false},
		{[]string{pipeabi.FieldUABrowser}, true, false},
		{[]string{pipeabi.FieldPath, "var:http_x_forwarded_for"}, false, true},
	} {
		man := &pipeabi.Manifest{Fields: tc.fields}
		if ua, vars := wantsUA(man), wantsVars(man); ua != tc.ua || vars != tc.rawVars {
			t.Errorf("%v: wantsUA %v, wantsVars %v; want %v, %v", tc.fields, ua, vars, tc.ua, tc.rawVars)
		}
	}
}

// TestParseBatch checks that parseBatch's records equal a fresh parse of
// each line on its own, batch after batch on one worker (records, the
// text formats' shared logformat.Record and the agent cache reused), with
// JSON lines whose unescaped strings live in their logformat.Record, with
// and without user agents classified, and that tokenising a record lazily
// cannot change what the agent cache hands out.
func TestParseBatch(t *testing.T) {
	lines := [][]byte{
		[]byte(`203.0.113.9 - - [10/Oct/2023:13:55:36 -0700] "GET /a?x=1 HTTP/1.1" 200 2326 "http://example.com/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36" 0.012 0.010`),
		[]byte(`{"remote_addr":"198.51.100.7","request":"GET /j\u00e9 HTTP/1.1","status":404,"http_user_agent":"curl/8.4.0 \"x\""}`),
		[]byte(`not a log line`),
		[]byte(`198.51.100.23 - - [10/Oct/2023:13:55:37 -0700] "GET /b HTTP/1.1" 304 0 "-" "-"`),
		[]byte(`{"remote_addr":"198.51.100.8","request":"POST /k\/l HTTP/2.0","status":201,"http_user_agent":"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)"}`),
		[]byte(`203.0.113.10 - - [10/Oct/2023:13:55:38 -0700] "GET /c HTTP/1.1" 200 1 "-" "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)"`),
	}
	want := func(formats []*logformat.Format, line []byte, needUA bool) (pipeabi.Record, bool) {
		var lr logformat.Record
		var err error
		for _, f := range formats {
			p := f.NewParser()
			p.SetRecordVars(false)
			if err = p.Parse(line, &lr); err == nil {
				break
			}
		}
		if err != nil {
			return pipeabi.Record{}, false
		}
		var r pipeabi.Record
		host.FromLog(&r, &lr)
		if !needUA {
			r.Agent, r.AgentClass = pipeabi.Agent{}, ""
		} else if r.UserAgent != "" {
			r.UA, r.UAParsed = pipeabi.TokenizeUA(pipeabi.UA{}, r.UserAgent), true
		}
		return r, true
	}
	compile := func(names ...string) []*logformat.Format {
		var fs []*logformat.Format
		for _, n := range names {
			fs = append(fs, logformat.MustCompile(n))
		}
		return fs
	}
	w := &worker{parsers: map[*logformat.Format]*logformat.Parser{}}
	for round, tc := range []struct {
		formats []*logformat.Format
		needUA  bool
	}{
		{compile("main", "combined"), true},
		{compile("main", "combined", "json"), true},
		{compile("main", "combined"), false},
		{compile("json", "combined"), true},
		{compile("main", "combined", "json"), false},
		{compile("combined", "main"), true},
	} {
		var res Result
		recs := w.parseBatch(tc.formats, lines, tc.needUA, false, 0, &res)
		var wantRecs []pipeabi.Record
		for _, l := range lines {
			if r, ok := want(tc.formats, l, tc.needUA); ok {
				wantRecs = append(wantRecs, r)
			}
		}
		if res.Lines != len(lines) || res.Bad != len(lines)-len(wantRecs) || len(recs) != len(wantRecs) {
			t.Fatalf("round %d: %d lines, %d bad, %d records; want %d, %d, %d", round, res.Lines, res.Bad, len(recs), len(lines), len(lines)-len(wantRecs), len(wantRecs))
		}
		for i := range recs {
			got := recs[i]
			if !got.UAParsed { // as the encoder does when a pipe takes the tokens
				got.UA, got.UAParsed = pipeabi.TokenizeUA(got.UA, got.UserAgent), true
				wantRecs[i].UA, wantRecs[i].UAParsed = pipeabi.TokenizeUA(pipeabi.UA{}, wantRecs[i].UserAgent), true
			}
			got.UA.Products = append(got.UA.Products, pipeabi.Product{Name: "x"}) // must not reach the cache
			got.UA.Products = got.UA.Products[:len(got.UA.Products)-1]
			// Printed, NaN equals NaN and a reused empty slice equals nil.
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", wantRecs[i]); g != w {
				t.Errorf("round %d, record %d:\n got %s\nwant %s", round, i, g, w)
			}
		}
	}
}

// BenchmarkEncodeColumns is the host's per-line work after the parse:
// encoding a batch's records (DefaultBatchSize combined lines) as the
// columns the built-in pipes read, each column once (pipeabi.Columns). An
// op is one line.
func BenchmarkEncodeColumns(b *testing.B) {
	lines, err := combinedLines()
	if err != nil {
		b.Fatal(err)
	}
	l, err := pipeabi.NewLayout([]string{pipeabi.FieldTime, pipeabi.FieldStatus, pipeabi.FieldBytes,
		pipeabi.FieldMethod, pipeabi.FieldPath, pipeabi.FieldProtocol, pipeabi.FieldReferer,
		pipeabi.FieldRemoteAddr, pipeabi.FieldUserAgent, pipeabi.FieldUABrowser, pipeabi.FieldUAOS,
		pipeabi.FieldUAClass, pipeabi.FieldPathHash})
	if err != nil {
		b.Fatal(err)
	}
	w := &worker{parsers: map[*logformat.Format]*logformat.Parser{}}
	var res Result
	recs := w.parseBatch([]*logformat.Format{logformat.MustCompile("combined")}, lines[:DefaultBatchSize], true, false, 0, &res)
	var cols pipeabi.Columns
	var buf []byte
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu0 := threadCPUTime()
	for n := 0; n < b.N; n += len(recs) {
		cols.Reset(recs)
		buf = cols.AppendBatch(buf[:0], l)
	}
	cpu := threadCPUTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "ns/line")
}
