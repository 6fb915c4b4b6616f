package pipes

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
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
