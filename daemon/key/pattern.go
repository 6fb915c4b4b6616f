// Package key is canopy's key language, the one grammar behind tree reads,
// trend queries, graphs, views and the Graphite API.
//
// A key is a path of names joined by commas: br,ie,7. A name holding a
// comma or a percent sign writes it %2C / %25 (any %XX is decoded, so keys
// copied from URLs work). In a pattern
//
//   - an empty segment or "*" matches exactly one level: br,,7 or br,*,7;
//   - "**" matches any number of levels, zero included: br,** or **,7;
//   - a glob matches inside one segment: "*" any run of characters (a '/'
//     included, which URL paths hold), "?" one character, "[a-c]" a class
//     ("[!a]" or "[^a]" negated), "{ie,ff}" one of the alternatives;
//   - everything else is literal, so a name always matches itself once
//     escaped with Join.
//
// A brace group is an alternation only when it holds a comma (names never
// do, Join escapes them), so a name like "/api/{id}" stays literal, and the
// group's commas do not split levels. Graphite paths (ParseGraphite) are the
// same grammar with '.' between levels and %2E for a dot inside a name.
package key

import (
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrSyntax is in the chain of every error about a malformed pattern.
var ErrSyntax = errors.New("bad key pattern")

type syntaxError struct{ msg string }

func (e *syntaxError) Error() string        { return e.msg }
func (e *syntaxError) Is(target error) bool { return target == ErrSyntax }

func errorf(format string, a ...any) error {
	return &syntaxError{fmt.Sprintf(format, a...)}
}

// Kind says what one segment of a pattern matches.
type Kind uint8

// Segment kinds.
const (
	Exact Kind = iota // a literal name
	One               // "" or "*": any one name
	Glob              // a glob inside one segment: "1*", "[ab]c", "{a,b}"
	Any               // "**": zero or more levels
)

type segment struct {
	kind Kind
	name string         // the unescaped name for Exact
	glob *regexp.Regexp // over names, for Glob
	esc  string         // regexp over the escaped name, for Glob
}

func (s *segment) match(name string) bool {
	switch s.kind {
	case Exact:
		return s.name == name
	case Glob:
		return s.glob.MatchString(name)
	default:
		return true
	}
}

// MaxSegments bounds a pattern so its state set fits a word.
const MaxSegments = 63

// Pattern is a compiled key pattern. It is safe for concurrent use.
type Pattern struct {
	src  string
	segs []segment

	reOnce sync.Once
	re     *regexp.Regexp
}

// String returns the text the pattern was compiled from.
func (p *Pattern) String() string { return p.src }

// Len is the number of segments ("**,**" counts once).
func (p *Pattern) Len() int { return len(p.segs) }

// Parse compiles a key pattern. The empty pattern matches the root, so a
// tree read of "" returns the whole tree.
func Parse(pattern string) (*Pattern, error) {
	p, err := parse(pattern, ',', false)
	if err != nil {
		return nil, errorf("key %q: %v", pattern, err)
	}
	return p, nil
}

// ParseGraphite compiles a Graphite path expression (br.{ie,ff}.1*,
// servers.*.load): the key grammar with '.' between levels; a dot inside a
// name is %2E. Empty segments are an error, as in Graphite.
func ParseGraphite(path string) (*Pattern, error) {
	if path == "" {
		return nil, errorf("empty graphite path")
	}
	p, err := parse(path, '.', true)
	if err != nil {
		return nil, errorf("bad graphite path %q: %v", path, err)
	}
	return p, nil
}

func parse(src string, sep byte, graphite bool) (*Pattern, error) {
	p := &Pattern{src: src}
	if src == "" {
		return p, nil
	}
	raws := split(src, sep)
	if graphite && strings.Contains(src, "{") {
		// Graphite names hold no braces: every one opens a group.
		for _, raw := range raws {
			if i := strings.IndexByte(raw, '{'); i >= 0 && braceGroup(raw[i:]) == 0 && strings.IndexByte(raw[i:], '}') < 0 {
				return nil, fmt.Errorf("unclosed { in %q", raw)
			}
		}
	}
	if len(raws) > MaxSegments {
		return nil, fmt.Errorf("more than %d segments", MaxSegments)
	}
	for _, raw := range raws {
		var s segment
		switch {
		case raw == "" && graphite:
			return nil, fmt.Errorf("empty segment")
		case raw == "" || raw == "*":
			s.kind = One
		case raw == "**":
			if n := len(p.segs); n > 0 && p.segs[n-1].kind == Any {
				continue // "**,**" is "**"
			}
			s.kind = Any
		case isGlob(raw):
			names, esc, err := compileGlob(raw)
			if err != nil {
				return nil, err
			}
			re, err := regexp.Compile("^(?s:" + names + ")$")
			if err != nil {
				return nil, fmt.Errorf("bad glob %q: %w", raw, err)
			}
			s = segment{kind: Glob, glob: re, esc: esc}
		default:
			n, err := Unescape(raw)
			if err != nil {
				return nil, err
			}
			s = segment{kind: Exact, name: n}
		}
		p.segs = append(p.segs, s)
	}
	return p, nil
}

// braceGroup returns the length of the alternation starting at s[0] == '{',
// or 0 when the brace is a literal character: no closing brace, a nested
// one, or no comma inside.
func braceGroup(s string) int {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0
	}
	inner := s[1:end]
	if strings.IndexByte(inner, '{') >= 0 || strings.IndexByte(inner, ',') < 0 {
		return 0
	}
	return end + 1
}

// split cuts a pattern at sep, except inside brace alternations.
func split(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			if n := braceGroup(s[i:]); n > 0 {
				i += n - 1
			}
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func isGlob(raw string) bool {
	if strings.ContainsAny(raw, "*?[") {
		return true
	}
	for i := strings.IndexByte(raw, '{'); i >= 0; {
		if braceGroup(raw[i:]) > 0 {
			return true
		}
		j := strings.IndexByte(raw[i+1:], '{')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// escUnit is one character of a name as it appears in an escaped key.
const escUnit = `(?:[^,%]|%2C|%25)`

// globWriter builds a segment's glob twice: as a regexp over names and as a
// regexp over escaped names (what trend backends match label values with).
type globWriter struct {
	names, esc strings.Builder
	lit        []byte
}

func (w *globWriter) flush() error {
	if len(w.lit) == 0 {
		return nil
	}
	s := string(w.lit)
	w.lit = w.lit[:0]
	if !utf8.ValidString(s) {
		return fmt.Errorf("glob literal %q is not UTF-8", s)
	}
	w.names.WriteString(regexp.QuoteMeta(s))
	w.esc.WriteString(regexp.QuoteMeta(Escape(s)))
	return nil
}

func compileGlob(raw string) (names, esc string, err error) {
	var w globWriter
	if err := w.glob(raw, raw, true); err != nil {
		return "", "", err
	}
	if err := w.flush(); err != nil {
		return "", "", err
	}
	return w.names.String(), w.esc.String(), nil
}

// glob writes the glob s (part of segment raw); braces only at top level.
func (w *globWriter) glob(raw, s string, braces bool) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			d, ok := decodeEscape(s, i)
			if !ok {
				return badEscape(raw)
			}
			w.lit = append(w.lit, d)
			i += 2
			continue
		case '{':
			n := 0
			if braces {
				n = braceGroup(s[i:])
			}
			if n == 0 {
				w.lit = append(w.lit, c)
				continue
			}
			if err := w.flush(); err != nil {
				return err
			}
			w.names.WriteString("(?:")
			w.esc.WriteString("(?:")
			for k, alt := range strings.Split(s[i+1:i+n-1], ",") {
				if k > 0 {
					w.names.WriteByte('|')
					w.esc.WriteByte('|')
				}
				if err := w.glob(raw, alt, false); err != nil {
					return err
				}
				if err := w.flush(); err != nil {
					return err
				}
			}
			w.names.WriteString(")")
			w.esc.WriteString(")")
			i += n - 1
			continue
		case '*', '?', '[':
		default:
			w.lit = append(w.lit, c)
			continue
		}
		if err := w.flush(); err != nil {
			return err
		}
		switch c {
		case '*':
			w.names.WriteString(".*")
			w.esc.WriteString(escUnit + "*")
		case '?':
			w.names.WriteString(".")
			w.esc.WriteString(escUnit)
		case '[':
			end := strings.IndexByte(s[i+1:], ']')
			if end < 0 {
				return fmt.Errorf("bad glob %q: unclosed [", raw)
			}
			if err := w.class(raw, s[i+1:i+1+end]); err != nil {
				return err
			}
			i += end + 1
		}
	}
	return nil
}

type runeRange struct{ lo, hi rune }

func (w *globWriter) class(raw, class string) error {
	neg := strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^")
	if neg {
		class = class[1:]
	}
	if class == "" {
		return fmt.Errorf("bad glob %q: empty class", raw)
	}
	// Read the class as runes; %XX stands for an ASCII character.
	var rs []rune
	for i := 0; i < len(class); {
		if class[i] == '%' {
			d, ok := decodeEscape(class, i)
			if !ok {
				return badEscape(raw)
			}
			if d >= utf8.RuneSelf {
				return fmt.Errorf("bad glob %q: escape %s in a class is not ASCII", raw, class[i:i+3])
			}
			rs = append(rs, rune(d))
			i += 3
			continue
		}
		r, n := utf8.DecodeRuneInString(class[i:])
		if r == utf8.RuneError && n == 1 {
			return fmt.Errorf("bad glob %q: class is not UTF-8", raw)
		}
		rs = append(rs, r)
		i += n
	}
	var ranges []runeRange
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			if rs[i] > rs[i+2] {
				return fmt.Errorf("bad glob %q: range %c-%c is reversed", raw, rs[i], rs[i+2])
			}
			ranges = append(ranges, runeRange{rs[i], rs[i+2]})
			i += 2
			continue
		}
		ranges = append(ranges, runeRange{rs[i], rs[i]})
	}
	has := func(c rune) bool {
		for _, r := range ranges {
			if r.lo <= c && c <= r.hi {
				return true
			}
		}
		return false
	}
	comma, pct := has(','), has('%')
	if neg {
		w.names.WriteString("[^" + classText(ranges) + "]")
		w.esc.WriteString("(?:[^" + classText(ranges) + ",%]")
		if !comma {
			w.esc.WriteString("|%2C")
		}
		if !pct {
			w.esc.WriteString("|%25")
		}
		w.esc.WriteString(")")
		return nil
	}
	w.names.WriteString("[" + classText(ranges) + "]")
	var alts []string
	if plain := without(ranges, ',', '%'); len(plain) > 0 {
		alts = append(alts, "["+classText(plain)+"]")
	}
	if comma {
		alts = append(alts, "%2C")
	}
	if pct {
		alts = append(alts, "%25")
	}
	w.esc.WriteString("(?:" + strings.Join(alts, "|") + ")")
	return nil
}

func classText(ranges []runeRange) string {
	var b strings.Builder
	for _, r := range ranges {
		fmt.Fprintf(&b, `\x{%x}`, r.lo)
		if r.hi != r.lo {
			fmt.Fprintf(&b, `-\x{%x}`, r.hi)
		}
	}
	return b.String()
}

// without removes the runes cs from ranges.
func without(ranges []runeRange, cs ...rune) []runeRange {
	for _, c := range cs {
		var out []runeRange
		for _, r := range ranges {
			if c < r.lo || c > r.hi {
				out = append(out, r)
				continue
			}
			if r.lo < c {
				out = append(out, runeRange{r.lo, c - 1})
			}
			if c < r.hi {
				out = append(out, runeRange{c + 1, r.hi})
			}
		}
		ranges = out
	}
	return ranges
}

// Exact returns the escaped key when the pattern has no wildcard, so a
// store can look it up instead of matching.
func (p *Pattern) Exact() (string, bool) {
	if len(p.segs) == 0 {
		return "", false
	}
	names := make([]string, len(p.segs))
	for i, s := range p.segs {
		if s.kind != Exact {
			return "", false
		}
		names[i] = s.name
	}
	return Join(names), true
}

// Regexp returns a regular expression, to be anchored by the caller, that
// matches exactly the escaped keys (as Join writes them) the pattern
// selects. Trend backends send it to VictoriaMetrics as a label filter.
func (p *Pattern) Regexp() string {
	var b strings.Builder
	const level = `[^,]+`
	for i, s := range p.segs {
		if s.kind == Any {
			switch {
			case len(p.segs) == 1:
				b.WriteString(".+")
			case i == 0:
				// Zero or more leading levels; each brings its comma.
				b.WriteString(`(?:` + level + `,)*`)
			default:
				// The comma belongs to the repetition so "br,**"
				// matches "br" too.
				b.WriteString(`(?:,` + level + `)*`)
			}
			continue
		}
		if i > 0 && !(i == 1 && p.segs[0].kind == Any) {
			b.WriteByte(',')
		}
		switch s.kind {
		case One:
			b.WriteString(level)
		case Exact:
			b.WriteString(quote(Escape(s.name)))
		case Glob:
			b.WriteString(s.esc)
		}
	}
	return b.String()
}

// quote is regexp.QuoteMeta for a name that may not be UTF-8: Go regexps
// read an invalid byte as U+FFFD, so that is what stands for it.
func quote(s string) string {
	if utf8.ValidString(s) {
		return regexp.QuoteMeta(s)
	}
	var b strings.Builder
	for s != "" {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			b.WriteString(`\x{fffd}`)
		} else {
			b.WriteString(regexp.QuoteMeta(s[:n]))
		}
		s = s[n:]
	}
	return b.String()
}

// MatchKey reports whether the escaped key k is selected: k itself, not a
// node below it (tree reads emit a matched node's subtree; that is the
// reader's choice).
func (p *Pattern) MatchKey(k string) bool {
	if exact, ok := p.Exact(); ok {
		return k == exact
	}
	p.reOnce.Do(func() {
		// Each piece compiled on its own, so the whole compiles too.
		p.re = regexp.MustCompile("^(?s:" + p.Regexp() + ")$")
	})
	return p.re.MatchString(k)
}

// Match reports whether the path of unescaped names is selected.
func (p *Pattern) Match(names []string) bool {
	s := p.Start()
	for _, n := range names {
		if s = p.Step(s, n); s == 0 {
			return false
		}
	}
	return p.Accepts(s)
}

// State is a set of positions in a pattern's segments: the pattern runs as
// an NFA over the names along a path ("**" stays or moves on), which
// handles any mix of wildcards without visiting a node twice.
type State uint64

func (p *Pattern) closure(s State) State {
	for i := range p.segs {
		if s&(1<<i) != 0 && p.segs[i].kind == Any {
			s |= 1 << (i + 1)
		}
	}
	return s
}

// Start is the state at the root.
func (p *Pattern) Start() State { return p.closure(1) }

// Step moves s one level down, to a child called name. The empty state
// means nothing below can match.
func (p *Pattern) Step(s State, name string) State {
	var next State
	for s != 0 {
		i := bits.TrailingZeros64(uint64(s))
		s &^= 1 << i
		if i >= len(p.segs) {
			continue
		}
		seg := &p.segs[i]
		if seg.kind == Any {
			next |= 1 << i
		} else if seg.match(name) {
			next |= 1 << (i + 1)
		}
	}
	return p.closure(next)
}

// UniformStep reports the state every child reaches from s, when s is a
// single one-level wildcard state (so a walk need not test names).
func (p *Pattern) UniformStep(s State) (State, bool) {
	if bits.OnesCount64(uint64(s)) != 1 {
		return 0, false
	}
	i := bits.TrailingZeros64(uint64(s))
	if i >= len(p.segs) || p.segs[i].kind != One {
		return 0, false
	}
	return p.closure(1 << (i + 1)), true
}

// Accepts reports whether a node reached in state s is selected.
func (p *Pattern) Accepts(s State) bool { return s&(1<<len(p.segs)) != 0 }

// Only returns the name when s is exactly one exact-name state, so a walk
// can look one child up instead of visiting all.
func (p *Pattern) Only(s State) (string, bool) {
	if bits.OnesCount64(uint64(s)) != 1 {
		return "", false
	}
	i := bits.TrailingZeros64(uint64(s))
	if i < len(p.segs) && p.segs[i].kind == Exact {
		return p.segs[i].name, true
	}
	return "", false
}

// Prefix returns the leading exact names: every key the pattern selects
// starts with them.
func (p *Pattern) Prefix() []string {
	var names []string
	for _, s := range p.segs {
		if s.kind != Exact {
			break
		}
		names = append(names, s.name)
	}
	return names
}

// Depth is the number of levels of every key the pattern selects; false
// when a "**" makes it vary.
func (p *Pattern) Depth() (int, bool) {
	for _, s := range p.segs {
		if s.kind == Any {
			return 0, false
		}
	}
	return len(p.segs), true
}
