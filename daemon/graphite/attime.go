package graphite

import (
	"fmt"
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
// now-7d, -2weeks, +30min), times of day and dates (HH:MM_YYYYMMDD,
// YYYYMMDD, MM/DD/YY, 6pm, noon, midnight, teatime, yesterday, today,
// tomorrow, a month name and day, a weekday), with an offset after them
// (midnight-1d). Times without a zone are in loc. RFC 3339 is accepted
// too (canopy's other APIs take it).
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
	if isDigits(s) {
		y, _ := strconv.Atoi(s[:min(4, len(s))])
		if !(len(s) == 8 && y > 1900 && atoi(s[4:6]) < 13 && atoi(s[6:]) < 32) {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("bad time %q: %w", orig, err)
			}
			return time.Unix(n, 0).In(loc), nil
		}
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
	d, err := parseOffset(offset)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: %w", orig, err)
	}
	return t.Add(d), nil
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

// parseOffset reads a graphite time offset: a sign, then number-unit
// pairs (-1h30min, 2weeks). Units by prefix as graphite-web reads them:
// s, min, h, d, w, mon (30 days), y (365 days); a bare m is minutes.
func parseOffset(s string) (time.Duration, error) {
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
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid offset: want a number at %q", s)
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
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
		total += time.Duration(n) * u
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
