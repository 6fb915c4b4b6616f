package tree

import (
	"fmt"
	"regexp"
	"strings"
)

// escapeName percent-escapes the two characters that cannot stand in a key
// segment as themselves: the separator and the escape character.
func escapeName(name string) string {
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

// unescapeName reverses escapeName. Any %XX is decoded so keys copied from
// URLs also work; a malformed escape is an error.
func unescapeName(seg string) (string, error) {
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
		if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
			return "", fmt.Errorf("bad escape in %q: %% must be followed by two hex digits", seg)
		}
		b.WriteByte(unhex(seg[i+1])<<4 | unhex(seg[i+2]))
		i += 2
	}
	return b.String(), nil
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

// JoinKey escapes names and joins them with commas.
func JoinKey(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(escapeName(n))
	}
	return b.String()
}

// appendKey appends ",name" (escaped) to a key under construction.
func appendKey(key []byte, name string) []byte {
	if len(key) > 0 {
		key = append(key, ',')
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == ',' || c == '%' {
			return append(key, escapeName(name)...)
		}
	}
	return append(key, name...)
}

// SplitKey splits an exact key into unescaped names. Empty segments are an
// error: in a key they would be wildcards.
func SplitKey(key string) ([]string, error) {
	if key == "" {
		return nil, fmt.Errorf("empty key")
	}
	segs := strings.Split(key, ",")
	for i, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("key %q: empty segment %d", key, i+1)
		}
		n, err := unescapeName(s)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		segs[i] = n
	}
	return segs, nil
}

type segKind uint8

const (
	segExact segKind = iota // a literal name
	segOne                  // "" or "*": any one name
	segGlob                 // a glob inside one segment: "1*", "[ab]c"
	segAny                  // "**": zero or more levels
)

type segment struct {
	kind segKind
	text string         // the name for segExact
	glob *regexp.Regexp // for segGlob
}

// Pattern is a compiled key: comma-separated segments where an empty segment
// or "*" matches exactly one level, a glob (*, ?, [...]) matches within
// one segment, "**" matches any depth (zero or more levels), and %2C / %25
// stand for a literal comma and percent sign.
type Pattern struct {
	src  string
	segs []segment
}

// String returns the key the pattern was compiled from.
func (p *Pattern) String() string { return p.src }

// ParsePattern compiles a key. The empty key matches the whole tree.
func ParsePattern(key string) (*Pattern, error) {
	p := &Pattern{src: key}
	if key == "" {
		return p, nil
	}
	for _, raw := range strings.Split(key, ",") {
		switch {
		case raw == "" || raw == "*":
			p.segs = append(p.segs, segment{kind: segOne})
		case raw == "**":
			p.segs = append(p.segs, segment{kind: segAny})
		case strings.ContainsAny(raw, "*?[\\"):
			g, err := globFromSegment(raw)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", key, err)
			}
			p.segs = append(p.segs, segment{kind: segGlob, glob: g})
		default:
			n, err := unescapeName(raw)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", key, err)
			}
			p.segs = append(p.segs, segment{kind: segExact, text: n})
		}
	}
	if len(p.segs) > maxSegments {
		return nil, fmt.Errorf("key %q: more than %d segments", key, maxSegments)
	}
	return p, nil
}

// globFromSegment compiles a raw segment's glob into an anchored regexp:
// `*` is any run of characters (including '/', which URL paths hold), `?` one
// character, `[...]` a class (`[!...]` or `[^...]` negated); escapes decode
// to literal characters.
func globFromSegment(raw string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^(?s:")
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return nil, fmt.Errorf("bad escape in %q: %% must be followed by two hex digits", raw)
			}
			b.WriteString(regexp.QuoteMeta(string([]byte{unhex(raw[i+1])<<4 | unhex(raw[i+2])})))
			i += 2
		case '\\':
			if i+1 < len(raw) {
				i++
				b.WriteString(regexp.QuoteMeta(raw[i : i+1]))
			}
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			end := strings.IndexByte(raw[i+1:], ']')
			if end < 0 {
				return nil, fmt.Errorf("bad glob %q: unclosed [", raw)
			}
			class := raw[i+1 : i+1+end]
			i += end + 1
			b.WriteByte('[')
			if strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^") {
				b.WriteByte('^')
				class = class[1:]
			}
			if class == "" {
				return nil, fmt.Errorf("bad glob %q: empty class", raw)
			}
			for j := 0; j < len(class); j++ {
				if class[j] == '-' && j > 0 && j < len(class)-1 {
					b.WriteByte('-')
					continue
				}
				b.WriteString(regexp.QuoteMeta(class[j : j+1]))
			}
			b.WriteByte(']')
		default:
			b.WriteString(regexp.QuoteMeta(raw[i : i+1]))
		}
	}
	b.WriteString(")$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("bad glob %q: %w", raw, err)
	}
	return re, nil
}

func (s *segment) match(name string) bool {
	switch s.kind {
	case segExact:
		return s.text == name
	case segGlob:
		return s.glob.MatchString(name)
	default:
		return true
	}
}
