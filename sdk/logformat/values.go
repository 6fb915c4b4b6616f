package logformat

import (
	"strconv"
	"time"
)

// Hand-written number and time readers: strconv and time.Parse need strings
// (an allocation per call from []byte) and handle far more than nginx
// writes.

// parseUint reads 1..maxDigits decimal digits.
func parseUint(b []byte, maxDigits int) (uint64, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseSeconds reads a non-negative decimal like nginx's `0.004` or `12`.
// Mantissas up to 15 digits are exact and the one division is correctly
// rounded, so the result equals strconv.ParseFloat's.
func parseSeconds(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var mant uint64
	digits, frac := 0, -1
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
		case c == '.' && frac < 0:
			frac = i
		default:
			return slowSeconds(b)
		}
	}
	if digits == 0 {
		return 0, false
	}
	if digits > 15 {
		return slowSeconds(b)
	}
	if frac < 0 {
		return float64(mant), true
	}
	return float64(mant) / pow10[len(b)-1-frac], true
}

// slowSeconds handles exponents and very long numbers from JSON logs.
func slowSeconds(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f != f {
		return 0, false
	}
	return f, true
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

var monthDays = [...]int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// civil turns a wall-clock time and a UTC offset (seconds east) into UTC.
func civil(y, mo, d, h, mi, s, nsec, off int) (time.Time, bool) {
	if mo < 1 || mo > 12 || d < 1 || d > monthDays[mo-1] || h > 23 || mi > 59 || s > 60 || y < 1 || y > 9999 {
		return time.Time{}, false
	}
	if mo == 2 && d == 29 && (y%4 != 0 || y%100 == 0 && y%400 != 0) {
		return time.Time{}, false
	}
	sec := daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+s) - int64(off)
	return time.Unix(sec, int64(nsec)).UTC(), true
}

// parseTimeLocal reads `10/Oct/2000:13:55:36 -0700`.
func parseTimeLocal(b []byte) (time.Time, bool) {
	if len(b) != 26 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' || b[20] != ' ' {
		return time.Time{}, false
	}
	mo := 0
	for i, m := range months {
		if b[3] == m[0] && b[4] == m[1] && b[5] == m[2] {
			mo = i + 1
			break
		}
	}
	d, ok1 := num(b[0:2])
	y, ok2 := num(b[7:11])
	h, ok3 := num(b[12:14])
	mi, ok4 := num(b[15:17])
	s, ok5 := num(b[18:20])
	off, ok6 := parseOffset(b[21:], false)
	if mo == 0 || !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	return civil(y, mo, d, h, mi, s, 0, off)
}

// parseOffset reads `-0700`, or with colon `-07:00`.
func parseOffset(b []byte, colon bool) (int, bool) {
	want := 5
	if colon {
		want = 6
	}
	if len(b) != want || b[0] != '+' && b[0] != '-' {
		return 0, false
	}
	hh, ok1 := num(b[1:3])
	mmb := b[3:5]
	if colon {
		if b[3] != ':' {
			return 0, false
		}
		mmb = b[4:6]
	}
	mm, ok2 := num(mmb)
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	off := hh*3600 + mm*60
	if b[0] == '-' {
		off = -off
	}
	return off, true
}

// parseISO8601 reads `2000-10-10T13:55:36+00:00` (nginx's $time_iso8601),
// also with fractional seconds, `Z`, or a space instead of `T`, as other
// JSON loggers write.
func parseISO8601(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		i := 1
		scale := 100000000
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	off := 0
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6:
		var ok bool
		if off, ok = parseOffset(rest, true); !ok {
			return time.Time{}, false
		}
	case len(rest) == 5:
		var ok bool
		if off, ok = parseOffset(rest, false); !ok {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	return civil(y, mo, d, h, mi, s, nsec, off)
}

// parseMsec reads `1697040000.123` (seconds since the epoch, with
// milliseconds).
func parseMsec(b []byte) (time.Time, bool) {
	dot := len(b)
	for i, c := range b {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot > 12 {
		return time.Time{}, false
	}
	sec, ok := num(b[:dot])
	if !ok {
		return time.Time{}, false
	}
	nsec := 0
	if dot < len(b) {
		frac := b[dot+1:]
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, false
		}
		n, ok := num(frac)
		if !ok {
			return time.Time{}, false
		}
		nsec = n * int(pow10[9-len(frac)])
	}
	return time.Unix(int64(sec), int64(nsec)).UTC(), true
}
