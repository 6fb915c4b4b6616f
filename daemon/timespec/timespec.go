// Package timespec is canopy's one parser of times and durations: the
// from/until of every API (Graphite's at-time forms, unix seconds or
// milliseconds, RFC 3339), Graphite offsets (timeShift, summarize) and the
// durations of flags and config files.
package timespec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var (
	monthNames   = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// ParseTime reads a from, until or now parameter in every form
// graphite-web accepts: unix seconds, "now", relative offsets (-1h,
// now-7d, -2weeks, -1mon, -1y, +30min), times of day and dates
// (HH:MM_YYYYMMDD, YYYYMMDD, MM/DD/YY, 6pm, noon, midnight, teatime,
// yesterday, today, tomorrow, a month name and day, a weekday), with an
// offset after them (midnight-1d). Times without a zone are in loc (nil is
// UTC). canopy also takes RFC 3339, fractional unix seconds and unix
// milliseconds (a number beyond the year 5000 in seconds). Empty is an
// error; ParseTimeOr gives a default.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
		return t, nil
	}
	now = now.In(loc)
	orig := s
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("_", "", ",", "", " ", "").Replace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if t, ok := parseEpoch(s, loc); ok {
		return t, nil
	}
	ref, offset := s, ""
	if i := strings.IndexByte(s, '+'); i >= 0 {
		ref, offset = s[:i], s[i:]
	} else if i := strings.IndexByte(s, '-'); i >= 0 {
		ref, offset = s[:i], s[i:]
	}
	t, err := parseReference(ref, now, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: %w", orig, err)
	}
	d, err := ParseOffset(offset)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: %w", orig, err)
	}
	return t.Add(d), nil
}

// ParseTimeOr is ParseTime with def for the empty string.
func ParseTimeOr(s string, now, def time.Time, loc *time.Location) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return def, nil
	}
	return ParseTime(s, now, loc)
}

// parseEpoch reads unix seconds (digits, maybe a fraction) or, beyond the year
// 5000, unix milliseconds. Eight digits that make a date are YYYYMMDD.
func parseEpoch(s string, loc *time.Location) (time.Time, bool) {
	if len(s) == 8 && isDigits(s) {
		if y, m, d := atoi(s[:4]), atoi(s[4:6]), atoi(s[6:]); y > 1900 && m >= 1 && m < 13 && d >= 1 && d < 32 {
			return time.Time{}, false
		}
	}
	whole, frac, dot := strings.Cut(s, ".")
	if !isDigits(whole) || dot && !isDigits(frac) {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, false
	}
	if math.Abs(f) >= 1e11 {
		return time.UnixMilli(int64(f)).In(loc), true
	}
	sec, part := math.Modf(f)
	return time.Unix(int64(sec), int64(part*1e9)).In(loc), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func parseReference(ref string, now time.Time, loc *time.Location) (time.Time, error) {
	if ref == "" || ref == "now" {
		return now, nil
	}
	raw := ref
	hour, minute := 0, 0
	if i := strings.IndexByte(ref, ':'); i > 0 && i < 3 {
		if len(ref) < i+3 || !isDigits(ref[:i]) || !isDigits(ref[i+1:i+3]) {
			return time.Time{}, fmt.Errorf("bad time of day %q", raw)
		}
		hour, minute = atoi(ref[:i]), atoi(ref[i+1:i+3])
		ref = ref[i+3:]
		if strings.HasPrefix(ref, "am") {
			ref = ref[2:]
		} else if strings.HasPrefix(ref, "pm") {
			hour = (hour + 12) % 24
			ref = ref[2:]
		}
	}
	if i := strings.Index(ref, "am"); i > 0 && i < 3 && isDigits(ref[:i]) {
		hour = atoi(ref[:i])
		ref = ref[i+2:]
	}
	if i := strings.Index(ref, "pm"); i > 0 && i < 3 && isDigits(ref[:i]) {
		hour = (atoi(ref[:i]) + 12) % 24
		ref = ref[i+2:]
	}
	switch {
	case strings.HasPrefix(ref, "noon"):
		hour, minute, ref = 12, 0, ref[4:]
	case strings.HasPrefix(ref, "midnight"):
		hour, minute, ref = 0, 0, ref[8:]
	case strings.HasPrefix(ref, "teatime"):
		hour, minute, ref = 16, 0, ref[7:]
	}
	y, mo, d := now.Date()
	date := func(y int, mo time.Month, d int) time.Time { return time.Date(y, mo, d, hour, minute, 0, 0, loc) }
	switch {
	case ref == "yesterday":
		return date(y, mo, d-1), nil
	case ref == "today" || ref == "":
		return date(y, mo, d), nil
	case ref == "tomorrow":
		return date(y, mo, d+1), nil
	case strings.Count(ref, "/") == 2:
		parts := strings.Split(ref, "/")
		if !isDigits(parts[0]) || !isDigits(parts[1]) || !isDigits(parts[2]) {
			return time.Time{}, fmt.Errorf("bad date %q", raw)
		}
		m, dd, yy := atoi(parts[0]), atoi(parts[1]), atoi(parts[2])
		if yy < 1900 {
			yy += 1900
		}
		if yy < 1970 {
			yy += 100
		}
		return date(yy, time.Month(m), dd), nil
	case len(ref) == 8 && isDigits(ref):
		return date(atoi(ref[:4]), time.Month(atoi(ref[4:6])), atoi(ref[6:])), nil
	case len(ref) >= 3 && indexOf(monthNames, ref[:3]) >= 0:
		day := 0
		switch {
		case len(ref) >= 2 && isDigits(ref[len(ref)-2:]):
			day = atoi(ref[len(ref)-2:])
		case isDigits(ref[len(ref)-1:]):
			day = atoi(ref[len(ref)-1:])
		default:
			return time.Time{}, fmt.Errorf("day of month required after month name")
		}
		return date(y, time.Month(indexOf(monthNames, ref[:3])+1), day), nil
	case len(ref) >= 3 && indexOf(weekdayNames, ref[:3]) >= 0:
		today := int(now.Weekday())
		off := today - indexOf(weekdayNames, ref[:3])
		if off < 0 {
			off += 7
		}
		return date(y, mo, d-off), nil
	}
	return time.Time{}, fmt.Errorf("unknown day reference: %s", raw)
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// ParseOffset reads a graphite time offset: a sign, then number-unit
// pairs (-1h30min, 2weeks; canopy also takes fractions, 1.5d). Units by prefix as graphite-web reads them:
// s, min, h, d, w, mon (30 days), y (365 days); a bare m is minutes.
func ParseOffset(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	sign := time.Duration(1)
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		sign, s = -1, s[1:]
	default:
		if s[0] < '0' || s[0] > '9' {
			return 0, fmt.Errorf("invalid offset: %s", s)
		}
	}
	var total time.Duration
	if s == "" {
		return 0, fmt.Errorf("invalid offset: no number")
	}
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid offset: want a number at %q", s)
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid offset %q: %w", s, err)
		}
		s = s[i:]
		j := 0
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		unit := s[:j]
		s = s[j:]
		u, err := offsetUnit(unit)
		if err != nil {
			return 0, err
		}
		if n*float64(u) > math.MaxInt64 {
			return 0, fmt.Errorf("invalid offset: %s is too long", s)
		}
		total += time.Duration(n * float64(u))
	}
	return sign * total, nil
}

func offsetUnit(u string) (time.Duration, error) {
	switch {
	case strings.HasPrefix(u, "s"):
		return time.Second, nil
	case strings.HasPrefix(u, "min"), u == "m":
		return time.Minute, nil
	case strings.HasPrefix(u, "h"):
		return time.Hour, nil
	case strings.HasPrefix(u, "d"):
		return 24 * time.Hour, nil
	case strings.HasPrefix(u, "w"):
		return 7 * 24 * time.Hour, nil
	case strings.HasPrefix(u, "mon"):
		return 30 * 24 * time.Hour, nil
	case strings.HasPrefix(u, "y"):
		return 365 * 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("invalid offset unit '%s'", u)
}

// ParseDuration reads the duration of a flag, a config value or a query
// parameter: a Go duration (36h, 1h30m, 500ms), a Graphite offset with
// days, weeks, months or years (90d, 2w, 1y, 5min), or bare seconds (30,
// 0.5).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && !strings.ContainsAny(strings.ToLower(s), "xpn") {
		if math.Abs(f) > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("bad duration %q: too long", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	if d, err := ParseOffset(strings.ToLower(s)); err == nil && s != "" {
		return d, nil
	}
	return 0, fmt.Errorf("bad duration %q: want a Go duration (90s, 36h), a number of days, weeks or years (7d, 2w, 1y) or seconds", s)
}
