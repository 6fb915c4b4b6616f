package app

import (
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/ingest"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name string
		p    ingest.ReplayProgress
		el   time.Duration
		want string
	}{
		{"start", ingest.ReplayProgress{TotalBytes: 3 << 20}, 0,
			"replay 0 lines, 0 lines/s   0% [                              ] 0 B/3.0 MiB ETA ?"},
		{"half", ingest.ReplayProgress{Lines: 1000, Bytes: 1 << 20, TotalBytes: 2 << 20}, 10 * time.Second,
			"replay 1000 lines, 100 lines/s  50% [===============               ] 1.0 MiB/2.0 MiB ETA 10s"},
		{"done", ingest.ReplayProgress{Lines: 5, Bytes: 512, TotalBytes: 512, Done: true}, 2 * time.Second,
			"replay 5 lines, 2 lines/s 100% [==============================] 512 B/512 B in 2s"},
		{"no size", ingest.ReplayProgress{Lines: 7, Bytes: 10}, time.Second,
			"replay 7 lines, 7 lines/s   0% [                              ] 10 B/0 B ETA ?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressLine(tc.p, tc.el); got != tc.want {
				t.Errorf("progressLine() =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
