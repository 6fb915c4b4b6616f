package timespec_test

import (
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/timespec"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2024, 3, 15, 13, 45, 30, 0, time.UTC) // a Friday
	def := now.Add(-time.Hour)
	for _, tc := range []struct{ in, want string }{
		// Graphite's from/until forms (graphite-web's at-time).
		{"-1h", "2024-03-15T12:45:30Z"},
		{"now-7d", "2024-03-08T13:45:30Z"},
		{"-2weeks", "2024-03-01T13:45:30Z"},
		{"-1mon", "2024-02-14T13:45:30Z"},
		{"-1y", "2023-03-16T13:45:30Z"},
		{"-5min", "2024-03-15T13:40:30Z"},
		{"-1h30min", "2024-03-15T12:15:30Z"},
		{"+1d", "2024-03-16T13:45:30Z"},
		{"now - 30 min", "2024-03-15T13:15:30Z"},
		{"1700000000", "2023-11-14T22:13:20Z"},
		{"20240101", "2024-01-01T00:00:00Z"},
		{"04:00_20240101", "2024-01-01T04:00:00Z"},
		{"midnight", "2024-03-15T00:00:00Z"},
		{"noon yesterday", "2024-03-14T12:00:00Z"},
		{"yesterday", "2024-03-14T00:00:00Z"},
		{"6pm today", "2024-03-15T18:00:00Z"},
		{"midnight-1d", "2024-03-14T00:00:00Z"},
		{"03/10/24", "2024-03-10T00:00:00Z"},
		{"monday", "2024-03-11T00:00:00Z"},
		{"jan 5", "2024-01-05T00:00:00Z"},
		{"now", "2024-03-15T13:45:30Z"},
		// canopy's own: RFC 3339, fractional seconds, milliseconds.
		{"2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"2024-03-01T02:00:00+02:00", "2024-03-01T00:00:00Z"},
		{"1764158400.5", "2025-11-26T12:00:00.5Z"},
		{"1764158400123", "2025-11-26T12:00:00.123Z"},
		{"", def.Format(time.RFC3339)},
	} {
		got, err := timespec.ParseTimeOr(tc.in, now, def, nil)
		if err != nil || got.UTC().Format(time.RFC3339Nano) != tc.want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", tc.in, got.UTC().Format(time.RFC3339Nano), err, tc.want)
		}
	}
	for _, bad := range []string{"-1x", "blah", "-h", "NaN", "Inf", "1e9", "0x10"} {
		if _, err := timespec.ParseTime(bad, now, time.UTC); err == nil {
			t.Errorf("ParseTime(%q): no error", bad)
		}
	}
	if _, err := timespec.ParseTime("", now, nil); err == nil {
		t.Errorf("ParseTime(\"\"): no error")
	}
}

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"1y", 365 * 24 * time.Hour}, {"90d", 90 * 24 * time.Hour}, {"2w", 14 * 24 * time.Hour},
		{"36h", 36 * time.Hour}, {"1.5d", 36 * time.Hour}, {"1h30m", 90 * time.Minute},
		{"500ms", 500 * time.Millisecond}, {"5min", 5 * time.Minute}, {"2weeks", 14 * 24 * time.Hour},
		{"1mon", 30 * 24 * time.Hour}, {"30", 30 * time.Second}, {"0.5", 500 * time.Millisecond},
		{"-1h", -time.Hour}, {"0", 0},
	} {
		got, err := timespec.ParseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "y", "1q", "NaN", "Inf", "1e300", "99999999999y"} {
		if _, err := timespec.ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q): no error", bad)
		}
	}
}

func TestParseOffset(t *testing.T) {
	for in, want := range map[string]time.Duration{"1d": 24 * time.Hour, "-1h30min": -90 * time.Minute, "": 0, "+5s": 5 * time.Second} {
		if got, err := timespec.ParseOffset(in); err != nil || got != want {
			t.Errorf("ParseOffset(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// FuzzParseTime: no from/until value or duration makes a parser panic.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"-1h", "now-7d", "04:00_20240101", "20240101", "midnight-1d", "6pm today", "03/10/24",
		"jan 5", "monday", "1700000000", "-1h30min", "2026-11-26T10:00:00Z", "1764158400.5", "-99999999999y", "90d"} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = timespec.ParseTime(s, now, time.UTC)
		_, _ = timespec.ParseDuration(s)
	})
}
