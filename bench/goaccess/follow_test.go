package main

import (
	"testing"
	"time"
)

// TestStampLines: the writer rewrites $time_local in place and leaves
// every other byte, and lines without that field, as they were.
func TestStampLines(t *testing.T) {
	now := time.Date(2026, 12, 7, 17, 4, 5, 0, time.FixedZone("", 3600))
	for _, tc := range []struct{ name, in, want string }{
		{"combined",
			`1.2.3.4 - - [05/Jan/2026:00:00:00 +0800] "GET / HTTP/1.1" 200 1 "-" "curl"` + "\n",
			`1.2.3.4 - - [07/Dec/2026:17:04:05 +0100] "GET / HTTP/1.1" 200 1 "-" "curl"` + "\n"},
		{"no time", "garbage [x] line\n", "garbage [x] line\n"},
		{"short bracket", "a [05/Jan/2026]\n", "a [05/Jan/2026]\n"},
		{"last line unterminated", `b [05/Jan/2026:00:00:00 +0800] x`, `b [07/Dec/2026:17:04:05 +0100] x`},
		{"two lines",
			"[05/Jan/2026:00:00:00 +0800]\n[06/Jan/2026:00:00:00 +0800]\n",
			"[07/Dec/2026:17:04:05 +0100]\n[07/Dec/2026:17:04:05 +0100]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			stampLines(b, now)
			if string(b) != tc.want {
				t.Fatalf("got %q, want %q", b, tc.want)
			}
		})
	}
}
