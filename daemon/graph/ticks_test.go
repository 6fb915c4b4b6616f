package graph

import (
	"slices"
	"testing"
	"time"
)

func TestTimeTicker(t *testing.T) {
	base := time.Date(2026, 11, 20, 9, 7, 0, 0, time.UTC)
	tests := []struct {
		span time.Duration
		want []string
	}{
		{2 * time.Minute, []string{"09:07:30", "09:08:00", "09:08:30"}},
		{15 * time.Minute, []string{"09:10", "09:15", "09:20"}},
		{6 * time.Hour, []string{"10:00", "11:00", "12:00", "13:00"}},
		{2 * 24 * time.Hour, []string{"12:00", "Nov 21", "12:00", "Nov 22"}},
		{30 * 24 * time.Hour, []string{"Nov 23", "Nov 30", "Dec 7", "Dec 14"}},
		{365 * 24 * time.Hour, []string{"2027", "Mar", "May", "Jul"}},
		{10 * 365 * 24 * time.Hour, []string{"2028", "2030", "2032"}},
	}
	for _, tc := range tests {
		min := float64(base.Unix())
		max := float64(base.Add(tc.span).Unix())
		ticks := timeTicker{n: 6, loc: time.UTC}.Ticks(min, max)
		var got []string
		for _, tk := range ticks {
			if tk.Value < min || tk.Value > max {
				t.Errorf("span %v: tick %q at %v outside [%v, %v]", tc.span, tk.Label, tk.Value, min, max)
			}
			got = append(got, tk.Label)
		}
		if len(got) < len(tc.want) || !slices.Equal(got[:len(tc.want)], tc.want) {
			t.Errorf("span %v: ticks %q, want them to start %q", tc.span, got, tc.want)
		}
		if len(got) > 8 {
			t.Errorf("span %v: %d ticks, want at most about 6", tc.span, len(got))
		}
	}
}

func TestValueTicker(t *testing.T) {
	tests := []struct {
		unit     Unit
		min, max float64
		abs      bool
		want     []string
	}{
		{UnitNone, 0, 1000, false, []string{"0", "200", "400", "600", "800", "1000"}},
		{UnitNone, 0, 2.5e6, false, []string{"0", "500k", "1000k", "1500k", "2000k", "2500k"}},
		{UnitNone, 0, 25e6, false, []string{"0", "5M", "10M", "15M", "20M", "25M"}},
		{UnitBytes, 0, 3e9, false, []string{"0 GB", "1 GB", "2 GB", "3 GB"}},
		{UnitBytes, 0, 30e9, false, []string{"0 GB", "10 GB", "20 GB", "30 GB"}},
		{UnitBytesPerSec, -2e6, 4e6, true, []string{"2 MB/s", "0 MB/s", "2 MB/s", "4 MB/s"}},
		{UnitSeconds, 0, 0.9, false, []string{"0 ms", "200 ms", "400 ms", "600 ms", "800 ms"}},
		{UnitSeconds, 0, 3600, false, []string{"0 min", "20 min", "40 min", "60 min"}},
		{UnitPercent, 0, 100, false, []string{"0%", "20%", "40%", "60%", "80%", "100%"}},
		{UnitPerSec, 0, 50, false, []string{"0/s", "10/s", "20/s", "30/s", "40/s", "50/s"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range (valueTicker{unit: tc.unit, n: 5, abs: tc.abs}).Ticks(tc.min, tc.max) {
			got = append(got, tk.Label)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s [%g, %g]: %q, want %q", tc.unit, tc.min, tc.max, got, tc.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		unit Unit
		want string
	}{
		{5230, UnitNone, "5.23k"},
		{880, UnitNone, "880"},
		{0, UnitNone, "0"},
		{1.5e6, UnitBytes, "1.5 MB"},
		{0.25, UnitSeconds, "250 ms"},
		{42.5, UnitPercent, "42.5%"},
		{0.004, UnitNone, "4m"},
	}
	for _, tc := range tests {
		if got := formatValue(tc.v, tc.unit, false); got != tc.want {
			t.Errorf("formatValue(%g, %s) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}
