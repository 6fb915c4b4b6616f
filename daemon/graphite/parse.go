package graphite

import (
	"fmt"
	"strconv"
	"strings"
)

// ExprKind says what an Expr is.
type ExprKind int

// Expression kinds, as graphite-web's grammar names them.
const (
	KindPath   ExprKind = iota // a metric path expression (globs allowed)
	KindCall                   // a function call
	KindString                 // a quoted string
	KindNumber                 // an integer or a float
	KindBool                   // true or false
	KindNone                   // None
)

// Expr is one parsed target expression.
type Expr struct {
	Kind  ExprKind
	Str   string  // path, string value or function name
	Num   float64 // KindNumber
	Int   bool    // KindNumber written as an integer
	Bool  bool    // KindBool
	Args  []*Expr
	Kw    []Kwarg
	Raw   string // the source text of a call
	Piped bool   // the first argument came through a pipe (a | f())
}

// Kwarg is one name=value argument.
type Kwarg struct {
	Name  string
	Value *Expr
}

// SyntaxError says where a target cannot be parsed.
type SyntaxError struct {
	Target string
	Pos    int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("cannot parse target %q at char %d: %s", e.Target, e.Pos, e.Msg)
}

// Parse reads one target the way graphite-web's grammar does: a path
// expression or a call, then any number of piped calls (a.b | scale(2)).
func Parse(target string) (*Expr, error) {
	p := &parser{s: target}
	e, err := p.expression()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, p.errf("unexpected %q", p.s[p.i:])
	}
	return e, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) errf(format string, a ...any) error {
	return &SyntaxError{Target: p.s, Pos: p.i, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// symbols cannot appear unescaped in a path (graphite-web's grammar).
const symbols = "(){},.'\"\\|"

func isPathChar(c byte) bool {
	return c > ' ' && c != 0x7f && !strings.ContainsRune(symbols, rune(c))
}

func (p *parser) expression() (*Expr, error) {
	p.space()
	var e *Expr
	c, ok, err := p.tryCall()
	switch {
	case err != nil:
		return nil, err
	case ok:
		e = c
	default:
		if e, err = p.path(); err != nil {
			return nil, err
		}
	}
	for {
		save := p.i
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '|' {
			p.i = save
			return e, nil
		}
		p.i++
		p.space()
		c, ok, err := p.tryCall()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, p.errf("want a function call after |")
		}
		c.Args = append([]*Expr{e}, c.Args...)
		c.Piped = true
		e = c
	}
}

// tryCall parses name(args) at the cursor; ok is false (and the cursor
// unmoved) when there is no call there.
func (p *parser) tryCall() (*Expr, bool, error) {
	start := p.i
	j := p.i
	if j >= len(p.s) || !isIdentStart(p.s[j]) {
		return nil, false, nil
	}
	for j < len(p.s) && isIdent(p.s[j]) {
		j++
	}
	k := j
	for k < len(p.s) && p.s[k] == ' ' {
		k++
	}
	if k >= len(p.s) || p.s[k] != '(' {
		return nil, false, nil
	}
	name := p.s[start:j]
	p.i = k + 1
	e := &Expr{Kind: KindCall, Str: name}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
		e.Raw = p.s[start:p.i]
		return e, true, nil
	}
	for {
		p.space()
		if name, ok := p.kwargName(); ok {
			v, err := p.arg()
			if err != nil {
				return nil, true, (err)
			}
			e.Kw = append(e.Kw, Kwarg{Name: name, Value: v})
		} else {
			if len(e.Kw) > 0 {
				return nil, true, (p.errf("positional argument after keyword arguments"))
			}
			v, err := p.arg()
			if err != nil {
				return nil, true, (err)
			}
			e.Args = append(e.Args, v)
		}
		p.space()
		if p.i >= len(p.s) {
			return nil, true, (p.errf("unterminated call to %s", name))
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			continue
		case ')':
			p.i++
			e.Raw = p.s[start:p.i]
			return e, true, nil
		}
		return nil, true, (p.errf("want , or ) in call to %s", name))
	}
}

func (p *parser) kwargName() (string, bool) {
	j := p.i
	if j >= len(p.s) || !isIdentStart(p.s[j]) {
		return "", false
	}
	for j < len(p.s) && isIdent(p.s[j]) {
		j++
	}
	k := j
	for k < len(p.s) && p.s[k] == ' ' {
		k++
	}
	if k < len(p.s) && p.s[k] == '=' {
		name := p.s[p.i:j]
		p.i = k + 1
		return name, true
	}
	return "", false
}

// atArgEnd reports whether the cursor is before , ) or the end, as
// graphite-web's number and keyword lookahead requires.
func (p *parser) atArgEnd(j int) bool {
	for j < len(p.s) && p.s[j] == ' ' {
		j++
	}
	return j >= len(p.s) || p.s[j] == ',' || p.s[j] == ')'
}

func (p *parser) arg() (*Expr, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, p.errf("missing argument")
	}
	c := p.s[p.i]
	if c == '\'' || c == '"' {
		return p.str()
	}
	// Keywords: true, false, none, inf (any case), as whole words.
	j := p.i
	for j < len(p.s) && isIdent(p.s[j]) {
		j++
	}
	if j > p.i && p.atArgEnd(j) {
		switch w := strings.ToLower(p.s[p.i:j]); w {
		case "true", "false":
			p.i = j
			return &Expr{Kind: KindBool, Bool: w == "true"}, nil
		case "none":
			p.i = j
			return &Expr{Kind: KindNone}, nil
		case "inf":
			p.i = j
			return &Expr{Kind: KindNumber, Num: inf}, nil
		}
	}
	if e, ok := p.number(); ok {
		return e, nil
	}
	return p.expression()
}

func (p *parser) number() (*Expr, bool) {
	j := p.i
	if j < len(p.s) && p.s[j] == '-' {
		j++
	}
	d := j
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j == d {
		return nil, false
	}
	isInt := true
	if j < len(p.s) && p.s[j] == '.' {
		k := j + 1
		for k < len(p.s) && p.s[k] >= '0' && p.s[k] <= '9' {
			k++
		}
		if k > j+1 {
			j, isInt = k, false
		}
	}
	if j < len(p.s) && (p.s[j] == 'e' || p.s[j] == 'E') {
		k := j + 1
		if k < len(p.s) && p.s[k] == '-' {
			k++
		}
		m := k
		for k < len(p.s) && p.s[k] >= '0' && p.s[k] <= '9' {
			k++
		}
		if k > m {
			j, isInt = k, false
		}
	}
	if !p.atArgEnd(j) {
		return nil, false
	}
	v, err := strconv.ParseFloat(p.s[p.i:j], 64)
	if err != nil {
		return nil, false
	}
	p.i = j
	return &Expr{Kind: KindNumber, Num: v, Int: isInt}, true
}

// str reads a quoted string; like graphite-web, its value is the text
// between the quotes, backslashes kept.
func (p *parser) str() (*Expr, error) {
	q := p.s[p.i]
	j := p.i + 1
	for j < len(p.s) && p.s[j] != q {
		if p.s[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(p.s) {
		return nil, p.errf("unterminated string")
	}
	e := &Expr{Kind: KindString, Str: p.s[p.i+1 : j]}
	p.i = j + 1
	return e, nil
}

// path reads a metric path expression: segments of path characters,
// backslash escapes and {a,b} alternatives, joined by dots.
func (p *parser) path() (*Expr, error) {
	start := p.i
	var b strings.Builder
	depth := 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 {
				return nil, p.errf("unbalanced }")
			}
			depth--
		case c == ',' && depth > 0:
		case c == '.':
		case !isPathChar(c):
			if depth > 0 {
				return nil, p.errf("unterminated {")
			}
			goto done
		}
		b.WriteByte(c)
		p.i++
	}
done:
	if depth > 0 {
		return nil, p.errf("unterminated {")
	}
	if p.i == start {
		if p.i < len(p.s) {
			return nil, p.errf("unexpected %q", p.s[p.i:p.i+1])
		}
		return nil, p.errf("empty target")
	}
	s := b.String()
	if strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return nil, &SyntaxError{Target: p.s, Pos: start, Msg: fmt.Sprintf("empty segment in path %q", s)}
	}
	return &Expr{Kind: KindPath, Str: s}, nil
}
