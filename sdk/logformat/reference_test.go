package logformat

// The parser as it was before the single-pass rewrite (commit 39098af),
// kept as the oracle of TestDifferential: the same lines must give the
// same records and errors. Only the functions the rewrite changed are
// here, renamed ref*; helpers it did not change are shared.

import (
	"bytes"
	"math"
	"time"
)

func (r *Record) refReset() {
	sc, vars := r.scratch, r.Vars
	ltl, lt, have := r.lastTL, r.lastT, r.haveLTL
	*r = Record{}
	r.scratch, r.Vars = sc[:0], vars[:0]
	r.lastTL, r.lastT, r.haveLTL = ltl, lt, have
}

// parse is Parse; vars says whether to fill r.Vars.
func (f *Format) refParse(line []byte, r *Record, vars bool) error {
	r.refReset()
	line = refTrimEOL(line)
	if len(line) == 0 {
		return ErrEmptyLine
	}
	if len(line) > MaxLineLen {
		return ErrLineTooBig
	}
	if f.json {
		return f.refParseJSON(line, r, vars)
	}
	return f.text.refRun(line, r, vars)
}

func refTrimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// run matches line against the program and stores each variable's value.
func (p *program) refRun(line []byte, r *Record, vars bool) error {
	if !bytes.HasPrefix(line, p.prefix) {
		return ErrMismatch
	}
	rest := line[len(p.prefix):]
	for i := range p.steps {
		s := &p.steps[i]
		var val []byte
		switch {
		case len(s.lit) == 0: // the last variable takes the rest of the line
			val, rest = rest, nil
		case s.last:
			if !bytes.HasSuffix(rest, s.lit) {
				return ErrMismatch
			}
			val, rest = rest[:len(rest)-len(s.lit)], nil
		case len(s.lit) == 1:
			j := bytes.IndexByte(rest, s.lit[0])
			if j < 0 {
				return ErrMismatch
			}
			val, rest = rest[:j], rest[j+1:]
		default:
			j := refIndexLit(rest, s.lit)
			if j < 0 {
				return ErrMismatch
			}
			val, rest = rest[:j], rest[j+len(s.lit):]
		}
		if vars {
			r.Vars = append(r.Vars, Var{Name: s.name, Value: val})
		}
		if err := r.refSet(s.kind, val); err != nil {
			return err
		}
	}
	if len(rest) != 0 {
		return ErrMismatch
	}
	return nil
}

// indexLit is bytes.Index for the short literals between variables (`" "`,
// `] "`): its first byte is rare enough in values that finding it with
// IndexByte and comparing the rest beats bytes.Index's general set-up.
func refIndexLit(b, lit []byte) int {
	for off := 0; ; {
		j := bytes.IndexByte(b[off:], lit[0])
		if j < 0 {
			return -1
		}
		j += off
		if len(b)-j < len(lit) {
			return -1
		}
		if string(b[j+1:j+len(lit)]) == string(lit[1:]) {
			return j
		}
		off = j + 1
	}
}

// set stores the value of one variable. `-` means "none" for every field,
// and so does an empty text value (nginx's escape=json writes "" for an
// absent header); an empty number is a malformed line.
func (r *Record) refSet(k varKind, v []byte) error {
	if k == varIgnore || len(v) == 1 && v[0] == '-' || len(v) == 0 && refTextKind[k] {
		return nil
	}
	switch k {
	case varRemoteAddr:
		r.RemoteAddr = v
		r.Has |= FieldRemoteAddr
	case varRemoteUser:
		r.RemoteUser = v
		r.Has |= FieldRemoteUser
	case varTimeLocal:
		if r.haveLTL && string(v) == string(r.lastTL[:]) { // no allocation: compiled to a compare
			r.Time = r.lastT
			r.Has |= FieldTime
			return nil
		}
		t, ok := r.refSameMinute(v)
		if !ok {
			if t, ok = parseTimeLocal(v); !ok {
				return ErrBadTime
			}
		}
		r.Time = t
		r.Has |= FieldTime
		copy(r.lastTL[:], v) // parseTimeLocal accepts exactly 26 bytes
		r.lastT, r.haveLTL = t, true
	case varTimeISO:
		t, ok := parseISO8601(v)
		if !ok {
			return ErrBadTime
		}
		r.Time = t
		r.Has |= FieldTime
	case varMsec:
		t, ok := parseMsec(v)
		if !ok {
			return ErrBadTime
		}
		r.Time = t
		r.Has |= FieldTime
	case varTimeAuto:
		t, ok := parseISO8601(v)
		if !ok {
			t, ok = parseTimeLocal(v)
		}
		if !ok {
			t, ok = parseMsec(v)
		}
		if !ok {
			return ErrBadTime
		}
		r.Time = t
		r.Has |= FieldTime
	case varRequest:
		r.refSetRequest(v)
	case varMethod:
		r.Method = v
		r.Has |= FieldMethod
	case varRequestURI:
		r.refSetTarget(v)
	case varURI:
		r.Path = v
		r.Has |= FieldPath
	case varArgs:
		if len(v) > 0 {
			r.Query = v
			r.Has |= FieldQuery
		}
	case varProtocol:
		r.Protocol = v
		r.Has |= FieldProtocol
	case varStatus:
		n, ok := parseUint(v, 3)
		if !ok || n < 100 {
			return ErrBadStatus
		}
		r.Status = int(n)
		r.Has |= FieldStatus
	case varBodyBytes, varBytesSent:
		if k == varBytesSent && r.haveBB {
			return nil
		}
		n, ok := parseUint(v, 18)
		if !ok {
			return ErrBadNumber
		}
		r.Bytes = int64(n)
		r.Has |= FieldBytes
		r.haveBB = r.haveBB || k == varBodyBytes
	case varRequestTime:
		d, ok := parseSeconds(v)
		if !ok {
			return ErrBadNumber
		}
		r.RequestTime = d
		r.Has |= FieldRequestTime
	case varUpstreamTime:
		if err := r.refSetUpstream(v); err != nil {
			return err
		}
	case varReferer:
		r.Referer = v
		r.Has |= FieldReferer
	case varUserAgent:
		r.UserAgent = v
		r.Has |= FieldUserAgent
	case varXFF:
		r.XForwardedFor = v
		r.Has |= FieldXForwardedFor
	case varHost:
		r.Host = v
		r.Has |= FieldHost
	}
	return nil
}

// sameMinute reads a $time_local that differs from the last one only in
// its seconds (a quiet log's consecutive lines), by moving the last time:
// the calendar arithmetic of parseTimeLocal is linear in the seconds.
func (r *Record) refSameMinute(v []byte) (time.Time, bool) {
	last := r.lastTL[:]
	if !r.haveLTL || len(v) != len(last) || string(v[:18]) != string(last[:18]) || string(v[20:]) != string(last[20:]) {
		return time.Time{}, false
	}
	s, ok := num(v[18:20])
	if !ok || s > 60 {
		return time.Time{}, false
	}
	prev := int(last[18]-'0')*10 + int(last[19]-'0') // digits: parseTimeLocal accepted them
	return r.lastT.Add(time.Duration(s-prev) * time.Second), true
}

// textKind marks the variables whose values are text rather than numbers
// or times.
var refTextKind = [...]bool{
	varRemoteAddr: true, varRemoteUser: true, varRequest: true, varMethod: true,
	varRequestURI: true, varURI: true, varArgs: true, varProtocol: true,
	varReferer: true, varUserAgent: true, varXFF: true, varHost: true,
	varUpstreamTime: true,
}

// setRequest splits `GET /a/b?x=1 HTTP/1.1`. A request line that is not
// three parts (a TLS handshake sent to the HTTP port, a bare path) keeps the
// whole text as the path: nginx logged it, so it is a good line.
func (r *Record) refSetRequest(v []byte) {
	sp := bytes.IndexByte(v, ' ')
	last := bytes.LastIndexByte(v, ' ')
	if sp <= 0 || last == sp {
		if sp > 0 && last == sp { // HTTP/0.9: `GET /path`
			r.Method = v[:sp]
			r.Has |= FieldMethod
			r.refSetTarget(v[sp+1:])
			return
		}
		r.Path = v
		r.Has |= FieldPath
		return
	}
	r.Method = v[:sp]
	r.Protocol = v[last+1:]
	r.Has |= FieldMethod | FieldProtocol
	r.refSetTarget(v[sp+1 : last])
}

// setTarget splits a request target into path and query.
func (r *Record) refSetTarget(v []byte) {
	if q := bytes.IndexByte(v, '?'); q >= 0 {
		if q+1 < len(v) {
			r.Query = v[q+1:]
			r.Has |= FieldQuery
		}
		v = v[:q]
	}
	r.Path = v
	r.Has |= FieldPath
}

// setUpstream reads `$upstream_response_time`: times separated by `, `
// (several servers of one upstream) or ` : ` (internal redirects to another
// upstream); a `-` element is an upstream that gave no time and is kept as
// NaN so positions still line up with $upstream_addr.
func (r *Record) refSetUpstream(v []byte) error {
	times := r.upBuf[:0]
	for len(v) > 0 {
		j := 0
		for j < len(v) && v[j] != ',' && v[j] != ':' {
			j++
		}
		el := bytes.TrimSpace(v[:j])
		if j < len(v) {
			v = v[j+1:]
		} else {
			v = nil
		}
		if len(el) == 0 {
			return ErrBadNumber
		}
		if len(el) == 1 && el[0] == '-' {
			times = append(times, math.NaN())
			continue
		}
		d, ok := parseSeconds(el)
		if !ok {
			return ErrBadNumber
		}
		times = append(times, d)
	}
	if len(times) > 0 {
		r.UpstreamTimes = times
		r.Has |= FieldUpstreamTime
	}
	return nil
}

// parseJSON reads one flat JSON object. With a template, each key the
// template names runs its compiled value program; without one, keys are
// nginx variable names or common aliases. Nested objects and arrays are
// skipped; unknown keys are ignored.
func (f *Format) refParseJSON(line []byte, r *Record, vars bool) error {
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
			if err := p.refRun(val, r, vars); err != nil {
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
		return r.refSet(k, val)
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
