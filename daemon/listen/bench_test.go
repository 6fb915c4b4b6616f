package listen

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/tree"
)

// BenchmarkStatsDBatch is the UDP hot path without the socket: datagrams of
// 40 counter lines over 1,000 names, parsed, summed and merged in batches.
func BenchmarkStatsDBatch(b *testing.B) {
	var packets [][]byte
	for i := 0; i < 1000; i += 40 {
		var sb strings.Builder
		for j := i; j < i+40; j++ {
			fmt.Fprintf(&sb, "bench.c%03d:1|c\n", j)
		}
		packets = append(packets, []byte(sb.String()))
	}
	tr := tree.New()
	sh := newShared(tr, []string{"statsd"}, DefaultTimerBuckets)
	l := &Listener{sh: sh, opt: Options{Tree: tr}}
	l.opt.Config.Format = "statsd"
	l.opt.Limits = l.opt.Limits.WithDefaults()
	r := l.newReader(maxPathCache)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.datagram(packets[i%len(packets)], nil)
		if i%32 == 31 {
			r.flush()
		}
	}
	r.flush()
	b.ReportMetric(float64(b.N*40)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*40), "ns/line")
}
