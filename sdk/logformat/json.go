package logformat

import (
	"unicode/utf8"
)

// parseJSON reads one flat JSON object. With a template, each key the
// template names runs its compiled value program; without one, keys are
// nginx variable names or common aliases. Nested objects and arrays are
// skipped; unknown keys are ignored.
func (f *Format) parseJSON(line []byte, r *Record, vars bool) error {
	if cap(r.scratch) < len(line) {
		r.scratch = make([]byte, 0, len(line)+len(line)/2)
	}
	sc := jsonScanner{buf: line, scratch: r.scratch[:0]}
	err := sc.object(func(key, val []byte, quoted bool) error {
		if !quoted && string(val) == "null" {
			return nil
		}
		if f.keys != nil {
			p, ok := f.keys[string(key)]
			if !ok {
				return nil
			}
			// The program records its variables in r.Vars.
			if err := p.run(val, r, vars); err != nil {
				return err
			}
			return nil
		}
		k, name := kindForJSONKey(key)
		if vars {
			if name == "" {
				name = string(key) // a key canopy does not know: rare, so allocating is fine
			}
			r.Vars = append(r.Vars, Var{Name: name, Value: val})
		}
		return r.set(k, val)
	})
	r.scratch = sc.scratch
	if err != nil {
		return err
	}
	if r.Has == 0 {
		return ErrMismatch
	}
	return nil
}

// jsonScanner walks one JSON object without building values. Unescaped
// strings go into scratch, whose capacity is at least the input length (an
// unescaped string is never longer than its escaped form), so slices into
// it stay valid while the line is scanned.
type jsonScanner struct {
	buf     []byte
	pos     int
	scratch []byte
}

func (s *jsonScanner) ws() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonScanner) object(fn func(key, val []byte, quoted bool) error) error {
	if cap(s.scratch) < len(s.buf) {
		s.scratch = make([]byte, 0, len(s.buf))
	}
	s.ws()
	if s.pos >= len(s.buf) || s.buf[s.pos] != '{' {
		return ErrBadJSON
	}
	s.pos++
	s.ws()
	if s.pos < len(s.buf) && s.buf[s.pos] == '}' {
		s.pos++
		return s.end()
	}
	for {
		s.ws()
		if s.pos >= len(s.buf) || s.buf[s.pos] != '"' {
			return ErrBadJSON
		}
		key, ok := s.str()
		if !ok {
			return ErrBadJSON
		}
		s.ws()
		if s.pos >= len(s.buf) || s.buf[s.pos] != ':' {
			return ErrBadJSON
		}
		s.pos++
		s.ws()
		if s.pos >= len(s.buf) {
			return ErrBadJSON
		}
		var val []byte
		quoted := false
		switch c := s.buf[s.pos]; c {
		case '"':
			val, ok = s.str()
			quoted = true
		case '{', '[':
			ok = s.skipNested()
			val = nil
		default:
			start := s.pos
			for s.pos < len(s.buf) {
				c := s.buf[s.pos]
				if c == ',' || c == '}' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
					break
				}
				s.pos++
			}
			val = s.buf[start:s.pos]
			ok = len(val) > 0
		}
		if !ok {
			return ErrBadJSON
		}
		if val != nil {
			if err := fn(key, val, quoted); err != nil {
				return err
			}
		}
		s.ws()
		if s.pos >= len(s.buf) {
			return ErrBadJSON
		}
		switch s.buf[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return s.end()
		default:
			return ErrBadJSON
		}
	}
}

// end accepts only whitespace after the object.
func (s *jsonScanner) end() error {
	s.ws()
	if s.pos != len(s.buf) {
		return ErrBadJSON
	}
	return nil
}

// str reads a string at s.pos (an opening quote) and returns its
// unescaped content.
func (s *jsonScanner) str() ([]byte, bool) {
	s.pos++ // opening quote
	start := s.pos
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		if c == '"' {
			v := s.buf[start:s.pos]
			s.pos++
			return v, true
		}
		if c == '\\' {
			return s.unescape(start)
		}
		s.pos++
	}
	return nil, false
}

// unescape continues a string that has escapes, copying it into scratch.
func (s *jsonScanner) unescape(start int) ([]byte, bool) {
	from := len(s.scratch)
	s.scratch = append(s.scratch, s.buf[start:s.pos]...)
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			s.pos++
			return s.scratch[from:], true
		case c == '\\':
			if s.pos+1 >= len(s.buf) {
				return nil, false
			}
			e := s.buf[s.pos+1]
			s.pos += 2
			switch e {
			case '"', '\\', '/':
				s.scratch = append(s.scratch, e)
			case 'b':
				s.scratch = append(s.scratch, '\b')
			case 'f':
				s.scratch = append(s.scratch, '\f')
			case 'n':
				s.scratch = append(s.scratch, '\n')
			case 'r':
				s.scratch = append(s.scratch, '\r')
			case 't':
				s.scratch = append(s.scratch, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return nil, false
				}
				if r >= 0xD800 && r < 0xDC00 && s.pos+1 < len(s.buf) && s.buf[s.pos] == '\\' && s.buf[s.pos+1] == 'u' {
					s.pos += 2
					lo, ok := s.hex4()
					if !ok {
						return nil, false
					}
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					if lo < 0xDC00 || lo > 0xDFFF {
						r = utf8.RuneError
					}
				}
				s.scratch = utf8.AppendRune(s.scratch, r)
			default:
				return nil, false
			}
		default:
			s.scratch = append(s.scratch, c)
			s.pos++
		}
	}
	return nil, false
}

func (s *jsonScanner) hex4() (rune, bool) {
	if s.pos+4 > len(s.buf) {
		return 0, false
	}
	var r rune
	for _, c := range s.buf[s.pos : s.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	s.pos += 4
	return r, true
}

// skipNested skips a nested object or array, minding strings.
func (s *jsonScanner) skipNested() bool {
	depth := 0
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.pos++
				return true
			}
		case '"':
			for s.pos++; s.pos < len(s.buf) && s.buf[s.pos] != '"'; s.pos++ {
				if s.buf[s.pos] == '\\' {
					s.pos++
				}
			}
		}
		s.pos++
	}
	return false
}
