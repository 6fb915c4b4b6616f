package pipeabi_test

import (
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// builtinFields are the manifests' field lists of the built-in pipes
// (pipes-src/NAME), in the order the daemon runs them.
var builtinFields = [][]string{
	{pipeabi.FieldUAClassHash, pipeabi.FieldUAClass}, // browser
	{pipeabi.FieldBytes},
	{pipeabi.FieldRemoteAddr, "var:http_x_forwarded_for"},                     // geo
	{pipeabi.FieldRemoteAddr, pipeabi.FieldBytes, "var:http_x_forwarded_for"}, // hosts
	{pipeabi.FieldPath, pipeabi.FieldMethod, pipeabi.FieldStatus, pipeabi.FieldRequestTime, pipeabi.FieldUpstream}, // latency
	{pipeabi.FieldUAClassHash, pipeabi.FieldUAClass},                                                               // os
	{pipeabi.FieldReferer, pipeabi.FieldHost},
	{pipeabi.FieldRequestTime},
	{pipeabi.FieldMethod, pipeabi.FieldProtocol, pipeabi.FieldPath, pipeabi.FieldStatus}, // requests
	{pipeabi.FieldStatus, pipeabi.FieldPath},
	{pipeabi.FieldTime, "var:time_local"},
	{pipeabi.FieldUpstream},
	{pipeabi.FieldPathHash, pipeabi.FieldPath}, // url
	{pipeabi.FieldHost, pipeabi.FieldBytes},
	{pipeabi.FieldTime, "var:time_local", pipeabi.FieldRemoteAddr, pipeabi.FieldUserAgent, pipeabi.FieldStatus, pipeabi.FieldBytes}, // visitors
}

// builtinLayouts compiles builtinFields, one layout per distinct list (the
// daemon encodes pipes with the same fields once).
func builtinLayouts(tb testing.TB) []*pipeabi.Layout {
	var ls []*pipeabi.Layout
	seen := map[string]bool{}
	for _, f := range builtinFields {
		key := strings.Join(f, ",")
		if seen[key] {
			continue
		}
		seen[key] = true
		l, err := pipeabi.NewLayout(f)
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
	}
	return ls
}

// loggedBatches parses n generated lines of format (as task bench:goaccess
// writes them) the way the daemon's workers do, variables recorded and the
// user agent classified through an AgentCache, in batches of size.
func loggedBatches(tb testing.TB, format string, n, size int) [][]pipeabi.Record {
	// As dense in time as task bench:goaccess's 1M lines over 72 h.
	span := 72 * time.Hour * time.Duration(n) / 1_000_000
	lines, _, err := loggen.Lines(loggen.Config{Lines: n, Seed: 1, Format: format, Span: span})
	if err != nil {
		tb.Fatal(err)
	}
	p := logformat.MustCompile(format).NewParser()
	p.SetClassifyUA(false)
	agents := host.NewAgentCache(0)
	var out [][]pipeabi.Record
	var recs []pipeabi.Record
	for _, line := range lines {
		lr := new(logformat.Record) // each record keeps its own parse alive
		if err := p.Parse(line, lr); err != nil {
			continue
		}
		recs = append(recs, pipeabi.Record{})
		host.FromLog(&recs[len(recs)-1], lr)
		agents.Fill(&recs[len(recs)-1])
		if len(recs) == size {
			out, recs = append(out, recs), nil
		}
	}
	if len(recs) > 0 {
		out = append(out, recs)
	}
	return out
}

// encoders are the two sides of the benchmarks: Columns (a Go map per
// str column) and SharedColumns (the daemon's).
var encoders = []struct {
	name string
	enc  func() pipeabi.BatchEncoder
}{
	{"old", func() pipeabi.BatchEncoder { return &pipeabi.Columns{} }},
	{"new", func() pipeabi.BatchEncoder { return &pipeabi.SharedColumns{} }},
}

// BenchmarkColumns: the host's cost per line of encoding every built-in
// pipe's batch from one set of records (as the daemon's worker does, in
// batches of 8192), old and new in the same run; -count N alternates them.
// cpu-ns/line is the benchmark thread's CPU time, steadier than ns/line on
// a shared machine.
func BenchmarkColumns(b *testing.B) {
	layouts := builtinLayouts(b)
	for _, format := range []string{"combined", "main"} {
		batches := loggedBatches(b, format, 32768, 8192)
		for _, e := range encoders {
			b.Run(format+"/"+e.name, func(b *testing.B) { encodeLoop(b, e.enc(), batches, layouts) })
		}
	}
}

// BenchmarkColumn: one field's column alone, old and new.
func BenchmarkColumn(b *testing.B) {
	batches := loggedBatches(b, "combined", 32768, 8192)
	fields := []string{pipeabi.FieldPath, pipeabi.FieldMethod, pipeabi.FieldProtocol, pipeabi.FieldRemoteAddr,
		pipeabi.FieldReferer, pipeabi.FieldHost, pipeabi.FieldUserAgent, pipeabi.FieldUAClass,
		"var:time_local", "var:http_x_forwarded_for", pipeabi.FieldStatus, pipeabi.FieldPathHash}
	for _, f := range fields {
		l, err := pipeabi.NewLayout([]string{f})
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range encoders {
			b.Run(f+"/"+e.name, func(b *testing.B) { encodeLoop(b, e.enc(), batches, []*pipeabi.Layout{l}) })
		}
	}
}

// encodeLoop encodes every batch for each layout per iteration and reports
// ns/line, cpu-ns/line (the thread's CPU time) and B/line (batch bytes).
func encodeLoop(b *testing.B, c pipeabi.BatchEncoder, batches [][]pipeabi.Record, layouts []*pipeabi.Layout) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	bufs := make([][]byte, len(layouts))
	lines, size := 0, 0
	var cpu0 time.Duration
	for i := 0; b.Loop(); i++ {
		if i == 0 {
			cpu0 = threadCPU()
		}
		for _, recs := range batches {
			pipeabi.ForgetHashes(recs)
			c.Reset(recs)
			for j, l := range layouts {
				bufs[j] = c.AppendBatch(bufs[j][:0], l)
				size += len(bufs[j])
			}
			lines += len(recs)
		}
	}
	n := float64(max(lines, 1))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/line")
	b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/n, "cpu-ns/line")
	b.ReportMetric(float64(size)/n, "B/line")
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
