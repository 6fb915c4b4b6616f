// Package pyconf parses module configs in the shape of gmond's .pyconf files
// (libconfuse syntax): nested named sections with optional titles and
// `key = value` settings, then decodes them into modules and collection
// groups. Errors carry the file, line and column.
package pyconf

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pos is a place in a config file (1-based line and column, column in runes).
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is a syntax or meaning error at a place in a file.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s:%s: %s", e.File, e.Pos, e.Msg)
}

// ValueKind says how a value was written.
type ValueKind uint8

// Value kinds.
const (
	KindString ValueKind = iota // "quoted"
	KindNumber                  // 10, 1.5, -3
	KindWord                    // bare word: yes, no, python
)

// Value is the right-hand side of a setting.
type Value struct {
	Kind ValueKind
	Text string // unquoted text
	Pos  Pos
}

// Node is a section (`name [title] { ... }`) or a setting (`name = value`).
type Node struct {
	Name     string
	Title    *Value // section title, e.g. `param interval { ... }`
	Pos      Pos
	Value    *Value  // set for settings
	Children []*Node // set for sections
}

// IsSection reports whether n is a `{ ... }` section.
func (n *Node) IsSection() bool { return n.Value == nil }

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tLBrace
	tRBrace
	tEquals
)

var tokNames = [...]string{"end of file", "name", "string", "number", "'{'", "'}'", "'='"}

type token struct {
	kind tokKind
	text string
	pos  Pos
}

type lexer struct {
	file string
	src  string
	off  int
	line int
	col  int
}

func (l *lexer) errf(p Pos, format string, args ...any) error {
	return &Error{File: l.file, Pos: p, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) peekRune() (rune, int) {
	if l.off >= len(l.src) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(l.src[l.off:])
}

func (l *lexer) advance() rune {
	r, n := l.peekRune()
	if n == 0 {
		return -1
	}
	l.off += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

// skip skips blanks and comments (#, //, /* */).
func (l *lexer) skip() error {
	for {
		r, _ := l.peekRune()
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == ',' || r == ';':
			// Commas and semicolons separate settings in libconfuse; both optional.
			l.advance()
		case r == '#':
			for r != '\n' && r != -1 {
				l.advance()
				r, _ = l.peekRune()
			}
		case r == '/' && strings.HasPrefix(l.src[l.off:], "//"):
			for r != '\n' && r != -1 {
				l.advance()
				r, _ = l.peekRune()
			}
		case r == '/' && strings.HasPrefix(l.src[l.off:], "/*"):
			start := l.pos()
			l.advance()
			l.advance()
			for {
				if l.off >= len(l.src) {
					return l.errf(start, "comment is not closed (missing */)")
				}
				if strings.HasPrefix(l.src[l.off:], "*/") {
					l.advance()
					l.advance()
					break
				}
				l.advance()
			}
		default:
			return nil
		}
	}
}

func isIdentStart(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

func isIdentPart(r rune) bool {
	return isIdentStart(r) || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '/'
}

func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	p := l.pos()
	r, _ := l.peekRune()
	switch {
	case r == -1:
		return token{kind: tEOF, pos: p}, nil
	case r == '{':
		l.advance()
		return token{kind: tLBrace, text: "{", pos: p}, nil
	case r == '}':
		l.advance()
		return token{kind: tRBrace, text: "}", pos: p}, nil
	case r == '=':
		l.advance()
		return token{kind: tEquals, text: "=", pos: p}, nil
	case r == '"' || r == '\'':
		return l.str(p, r)
	case r == '-' || r == '+' || r == '.' || r >= '0' && r <= '9':
		start := l.off
		for {
			r, _ := l.peekRune()
			if r == -1 || !(r >= '0' && r <= '9' || r == '.' || r == '-' || r == '+' || r == 'e' || r == 'E') {
				break
			}
			l.advance()
		}
		text := l.src[start:l.off]
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return token{}, l.errf(p, "bad number %q", text)
		}
		return token{kind: tNumber, text: text, pos: p}, nil
	case isIdentStart(r):
		start := l.off
		for {
			r, _ := l.peekRune()
			if r == -1 || !isIdentPart(r) {
				break
			}
			l.advance()
		}
		return token{kind: tIdent, text: l.src[start:l.off], pos: p}, nil
	case r == utf8.RuneError:
		return token{}, l.errf(p, "invalid UTF-8")
	default:
		return token{}, l.errf(p, "unexpected character %q", r)
	}
}

func (l *lexer) str(p Pos, quote rune) (token, error) {
	l.advance()
	var b strings.Builder
	for {
		r := l.advance()
		switch r {
		case -1, '\n':
			return token{}, l.errf(p, "string is not closed (missing %c)", quote)
		case quote:
			return token{kind: tString, text: b.String(), pos: p}, nil
		case '\\':
			e := l.advance()
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\', '"', '\'':
				b.WriteRune(e)
			case -1:
				return token{}, l.errf(p, "string is not closed (missing %c)", quote)
			default:
				// Keep unknown escapes as written, so Windows-ish paths and
				// regular expressions survive.
				b.WriteByte('\\')
				b.WriteRune(e)
			}
		case utf8.RuneError:
			return token{}, l.errf(p, "invalid UTF-8 in string")
		default:
			b.WriteRune(r)
		}
	}
}

// maxDepth bounds section nesting so hostile input cannot exhaust the stack.
const maxDepth = 32

type parser struct {
	lx  *lexer
	tok token
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// Parse reads a whole file into its top-level nodes; name is used in errors.
func Parse(name string, src []byte) ([]*Node, error) {
	if !utf8.Valid(src) {
		// Find the place for the message.
		lx := &lexer{file: name, src: string(src), line: 1, col: 1}
		for lx.off < len(lx.src) {
			r, n := utf8.DecodeRuneInString(lx.src[lx.off:])
			if r == utf8.RuneError && n <= 1 {
				return nil, lx.errf(lx.pos(), "invalid UTF-8")
			}
			lx.advance()
		}
	}
	p := &parser{lx: &lexer{file: name, src: string(src), line: 1, col: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	nodes, err := p.items(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.lx.errf(p.tok.pos, "unexpected %s (no section is open)", tokNames[p.tok.kind])
	}
	return nodes, nil
}

func (p *parser) items(depth int) ([]*Node, error) {
	var out []*Node
	for p.tok.kind == tIdent {
		n, err := p.item(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (p *parser) item(depth int) (*Node, error) {
	n := &Node{Name: p.tok.text, Pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tEquals:
		if err := p.advance(); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.Value = v
		return n, nil
	case tIdent, tString, tNumber:
		t := p.tok
		n.Title = p.tokValue(t)
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tLBrace {
			return nil, p.lx.errf(p.tok.pos, "want '{' after section %s %q, got %s", n.Name, t.text, tokNames[p.tok.kind])
		}
		fallthrough
	case tLBrace:
		if depth >= maxDepth {
			return nil, p.lx.errf(p.tok.pos, "sections nested deeper than %d", maxDepth)
		}
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		kids, err := p.items(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRBrace {
			if p.tok.kind == tEOF {
				return nil, p.lx.errf(open, "section %s is not closed (missing '}')", n.Name)
			}
			return nil, p.lx.errf(p.tok.pos, "unexpected %s in section %s (want a name or '}')", tokNames[p.tok.kind], n.Name)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if kids == nil {
			kids = []*Node{}
		}
		n.Children = kids
		return n, nil
	default:
		return nil, p.lx.errf(p.tok.pos, "want '=' or '{' after %q, got %s", n.Name, tokNames[p.tok.kind])
	}
}

func (p *parser) tokValue(t token) *Value {
	k := KindWord
	switch t.kind {
	case tString:
		k = KindString
	case tNumber:
		k = KindNumber
	}
	return &Value{Kind: k, Text: t.text, Pos: t.pos}
}

func (p *parser) value() (*Value, error) {
	switch p.tok.kind {
	case tString, tNumber, tIdent:
		v := p.tokValue(p.tok)
		return v, p.advance()
	default:
		return nil, p.lx.errf(p.tok.pos, "want a value (string, number or word), got %s", tokNames[p.tok.kind])
	}
}
