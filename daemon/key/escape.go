package key

import (
	"fmt"
	"strings"
)

// Escape percent-escapes the two characters that cannot stand in a key
// segment as themselves: the separator and the escape character.
func Escape(name string) string {
	if !strings.ContainsAny(name, ",%") {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case ',':
			b.WriteString("%2C")
		case '%':
			b.WriteString("%25")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Unescape reverses Escape. Any %XX is decoded so keys copied from URLs
// also work; a malformed escape is an error.
func Unescape(seg string) (string, error) {
	if strings.IndexByte(seg, '%') < 0 {
		return seg, nil
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		d, ok := decodeEscape(seg, i)
		if !ok {
			return "", badEscape(seg)
		}
		b.WriteByte(d)
		i += 2
	}
	return b.String(), nil
}

func badEscape(seg string) error {
	return fmt.Errorf("bad escape in %q: %% must be followed by two hex digits", seg)
}

// decodeEscape decodes the %XX at s[i].
func decodeEscape(s string, i int) (byte, bool) {
	if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
		return 0, false
	}
	return unhex(s[i+1])<<4 | unhex(s[i+2]), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// Join escapes names and joins them with commas.
func Join(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(Escape(n))
	}
	return b.String()
}

// AppendName appends ",name" (escaped) to a key under construction.
func AppendName(key []byte, name string) []byte {
	if len(key) > 0 {
		key = append(key, ',')
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == ',' || c == '%' {
			return append(key, Escape(name)...)
		}
	}
	return append(key, name...)
}

// Split splits an exact key into unescaped names. Empty segments are an
// error: in a pattern they would be wildcards.
func Split(key string) ([]string, error) {
	if key == "" {
		return nil, fmt.Errorf("empty key")
	}
	segs := strings.Split(key, ",")
	for i, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("key %q: empty segment %d", key, i+1)
		}
		n, err := Unescape(s)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		segs[i] = n
	}
	return segs, nil
}

// Graphite names are dotted; canopy's keys are comma paths whose names may
// hold dots (br,webkit,14.0). A name's dots are written %2E in Graphite
// paths so the mapping stays reversible.

// ToGraphite turns a key into a Graphite path: "br,webkit,14.0" is
// "br.webkit.14%2E0".
func ToGraphite(key string) string {
	segs := strings.Split(key, ",")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(s, ".", "%2E")
	}
	return strings.Join(segs, ".")
}

// FromGraphite reverses ToGraphite for a plain (wildcard-free) path.
func FromGraphite(path string) string {
	segs := strings.Split(path, ".")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(s, "%2E", ".")
	}
	return strings.Join(segs, ",")
}
