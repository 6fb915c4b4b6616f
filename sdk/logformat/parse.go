package logformat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"time"
)

// Record is one parsed log line. Byte-slice fields point into the line
// passed to Parse (or, for JSON lines with escapes, into the Record's own
// buffer): they are valid until the line is reused or the Record is parsed
// into again. Reuse one Record per goroutine to parse without allocating.
type Record struct {
	// Has says which fields this line carried; a field whose value was
	// `-` (nginx's "none") is absent.
	Has Field

	Time          time.Time // $time_local, $time_iso8601 or $msec, in UTC
	Status        int       // $status
	Bytes         int64     // $body_bytes_sent (or $bytes_sent)
	RequestTime   float64   // $request_time, seconds
	UpstreamTimes []float64 // $upstream_response_time, seconds, one per upstream tried; NaN for a `-` entry

	Method        []byte // from $request or $request_method
	Path          []byte // from $request, $request_uri or $uri; the query is split off
	Query         []byte // without the `?`
	Protocol      []byte // HTTP/1.1
	RemoteAddr    []byte
	RemoteUser    []byte
	Referer       []byte
	UserAgent     []byte
	XForwardedFor []byte
	Host          []byte

	// UA is the classified user agent, set by Parser when Has has
	// FieldUserAgent (Format.Parse leaves it zero).
	UA UserAgent

	// Vars are the raw values of every variable of the line, typed or not,
	// in format order ($ssl_protocol, $request_length, $host, …); for JSON
	// lines every key with a scalar value. `-` is kept as it is.
	Vars []Var

	upBuf   [4]float64 // backing store for UpstreamTimes
	scratch []byte     // unescaped JSON strings
	haveBB  bool       // $body_bytes_sent seen: it wins over $bytes_sent

	// The last $time_local read into this Record and its value: a log's
	// consecutive lines mostly share the second, and comparing 26 bytes is
	// cheaper than parsing them. Kept across reset.
	lastTL  [26]byte
	lastT   time.Time
	haveLTL bool
}

// UpstreamTotal is the sum of UpstreamTimes (NaN entries skipped): the time
// spent waiting on all upstreams tried for the request.
func (r *Record) UpstreamTotal() float64 {
	var s float64
	for _, v := range r.UpstreamTimes {
		if v == v {
			s += v
		}
	}
	return s
}

// Var is the raw text of one log_format variable (name without `$`).
type Var struct {
	Name  string
	Value []byte
}

// set stores v field by field: a Var literal is built on the stack and
// copied, which costs more than the rest of storing a head variable.
func (v *Var) set(name string, val []byte) { v.Name, v.Value = name, val }

// Var returns the raw value of variable name and whether the line had it.
func (r *Record) Var(name string) ([]byte, bool) {
	for _, v := range r.Vars {
		if v.Name == name {
			return v.Value, true
		}
	}
	return nil, false
}

// reset clears what the last parse set. Parse sets a field only with its
// bit in Has (and UA only with a Class), so clearing by Has is cheaper than
// zeroing the whole Record, most of which is caches and buffers.
func (r *Record) reset() {
	h := r.Has
	r.Has = 0
	r.Time = time.Time{}
	r.Status, r.Bytes, r.RequestTime, r.UpstreamTimes = 0, 0, 0, nil
	r.haveBB = false
	if h&(FieldMethod|FieldPath|FieldQuery|FieldProtocol) != 0 {
		r.Method, r.Path, r.Query, r.Protocol = nil, nil, nil, nil
	}
	if h&(FieldRemoteAddr|FieldRemoteUser) != 0 {
		r.RemoteAddr, r.RemoteUser = nil, nil
	}
	if h&(FieldReferer|FieldUserAgent|FieldXForwardedFor|FieldHost) != 0 {
		r.Referer, r.UserAgent, r.XForwardedFor, r.Host = nil, nil, nil, nil
	}
	if r.UA.Class != "" {
		r.UA = UserAgent{}
	}
	r.Vars = r.Vars[:0]
	r.scratch = r.scratch[:0]
}

// Errors Parse returns for lines that do not match. They are values so that
// counting bad lines costs no allocation; use errors.Is.
var (
	ErrMismatch   = errors.New("line does not match the log format")
	ErrBadTime    = errors.New("bad time in log line")
	ErrBadStatus  = errors.New("bad status in log line")
	ErrBadNumber  = errors.New("bad number in log line")
	ErrBadJSON    = errors.New("bad JSON log line")
	ErrEmptyLine  = errors.New("empty log line")
	ErrLineTooBig = errors.New("log line longer than 64 KiB")
)

// MaxLineLen is the longest line Parse accepts.
const MaxLineLen = 64 << 10

// Parse parses one line (a trailing `\n` or `\r\n` is ignored) into r.
// It does not classify the user agent; Parser does.
func (f *Format) Parse(line []byte, r *Record) error { return f.parse(line, r, true) }

// parse is Parse; vars says whether to fill r.Vars.
func (f *Format) parse(line []byte, r *Record, vars bool) error {
	r.reset()
	line = trimEOL(line)
	if len(line) == 0 {
		return ErrEmptyLine
	}
	if len(line) > MaxLineLen {
		return ErrLineTooBig
	}
	if f.json {
		return f.parseJSON(line, r, vars)
	}
	return f.text.run(line, r, vars)
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// run matches line against the program and stores each variable's value,
// in one pass from left to right: each variable ends at the first
// occurrence of the literal after it.
func (p *program) run(line []byte, r *Record, vars bool) error {
	if !bytes.HasPrefix(line, p.prefix) {
		return ErrMismatch
	}
	pos := len(p.prefix)
	if vars && cap(r.Vars)-len(r.Vars) < len(p.steps) {
		r.Vars = append(make([]Var, 0, len(r.Vars)+len(p.steps)), r.Vars...)
	}
	var err error
	if p.head < 0 {
		pos, err = p.runSteps(line, pos, p.steps, r, vars)
	} else {
		if p.head > 0 {
			pos, err = p.runSteps(line, pos, p.steps[:p.head], r, vars)
		}
		if err == nil {
			pos, err = r.combinedHead(line, pos, vars)
		}
		next := p.head + len(headVars)
		if err == nil && p.headUA != 0 {
			pos, err = r.headUserAgent(line, pos, p.headUA, vars)
			next++
		}
		if err == nil && next < len(p.steps) {
			pos, err = p.runSteps(line, pos, p.steps[next:], r, vars)
		}
	}
	if err != nil {
		return err
	}
	if pos != len(line) {
		return ErrMismatch
	}
	return nil
}

// runSteps runs steps from line[pos:] and returns the position after the
// last step's literal.
func (p *program) runSteps(line []byte, pos int, steps []step, r *Record, vars bool) (int, error) {
	for i := range steps {
		s := &steps[i]
		start := pos
		var end int
		switch lit := s.lit; {
		case len(lit) == 0: // the last variable takes the rest of the line
			end, pos = len(line), len(line)
		case s.last:
			end = len(line) - len(lit)
			if end < pos || string(line[end:]) != string(lit) {
				return pos, ErrMismatch
			}
			pos = len(line)
		case len(lit) == 1:
			j := bytes.IndexByte(line[pos:], lit[0])
			if j < 0 {
				return pos, ErrMismatch
			}
			end = pos + j
			pos = end + 1
		default:
			j := indexLit(line[pos:], lit)
			if j < 0 {
				return pos, ErrMismatch
			}
			end = pos + j
			pos = end + len(lit)
		}
		val := line[start:end]
		if vars {
			r.Vars = r.Vars[:len(r.Vars)+1] // run made room
			r.Vars[len(r.Vars)-1].set(s.name, val)
		}
		if err := r.set(s.kind, val); err != nil {
			return pos, err
		}
	}
	return pos, nil
}

// combinedHead parses `$remote_addr - $remote_user [$time_local] "$request"
// $status $body_bytes_sent "$http_referer" ` from line[pos:] as runSteps
// would, in straight-line code with the literals known: a loop over steps
// costs more than the scanning. The common values take shortcuts (`-`, a
// three-digit status, a time as long as nginx writes it), each taken only
// where the value it assumes is the one the general search would find.
func (r *Record) combinedHead(line []byte, pos int, vars bool) (int, error) {
	// With vars, the head's variables go into seven slots reserved at once
	// (run made room): cheaper than seven appends.
	var hv *[len(headVars)]Var
	if vars {
		n := len(r.Vars)
		r.Vars = r.Vars[:n+len(headVars)]
		hv = (*[len(headVars)]Var)(r.Vars[n:])
	}
	b := line[pos:]
	// $remote_addr, up to " - ". An IPv4 address ends within 16 bytes, so
	// the first space is looked for in two words; when " - " starts there
	// it is the first " - ".
	i := 16
	if len(b) >= 18 {
		if i = spaceIn8(le64(b)); i == 8 {
			i += spaceIn8(le64(b[8:]))
		}
	}
	if i == 16 || b[i+1] != '-' || b[i+2] != ' ' {
		if i = index3(b, ' ', '-', ' '); i < 0 {
			return pos, ErrMismatch
		}
	}
	v := b[:i]
	b = b[i+3:]
	if vars {
		hv[0].set("remote_addr", v)
	}
	if !absent(v) {
		r.RemoteAddr = v
		r.Has |= FieldRemoteAddr
	}

	// $remote_user, up to " [": mostly `-`.
	if len(b) >= 3 && b[0] == '-' && b[1] == ' ' && b[2] == '[' {
		v, b = b[:1], b[3:]
	} else {
		if i = index2(b, ' ', '['); i < 0 {
			return pos, ErrMismatch
		}
		v, b = b[:i], b[i+2:]
		if !absent(v) {
			r.RemoteUser = v
			r.Has |= FieldRemoteUser
		}
	}
	if vars {
		hv[1].set("remote_user", v)
	}

	// $time_local, up to `] "`. A good time is 26 bytes without a `]`, so
	// when one is followed by the literal it is the value.
	if len(b) >= 29 && b[26] == ']' && b[27] == ' ' && b[28] == '"' && r.setTimeLocal(b[:26]) == nil {
		v, b = b[:26], b[29:]
		if vars {
			hv[2].set("time_local", v)
		}
	} else {
		if i = index3(b, ']', ' ', '"'); i < 0 {
			return pos, ErrMismatch
		}
		v, b = b[:i], b[i+3:]
		if vars {
			hv[2].set("time_local", v)
		}
		if err := r.set(varTimeLocal, v); err != nil {
			return pos, err
		}
	}

	// $request, up to `" ` (nginx escapes `"` in it as \x22).
	if i = index2(b, '"', ' '); i < 0 {
		return pos, ErrMismatch
	}
	v, b = b[:i], b[i+2:]
	if vars {
		hv[3].set("request", v)
	}
	if !absent(v) {
		r.setRequest(v)
	}

	// $status, up to " ": mostly three digits.
	if len(b) >= 4 && b[3] == ' ' && isDigit(b[0]) && isDigit(b[1]) && isDigit(b[2]) {
		v, b = b[:3], b[4:]
		if vars {
			hv[4].set("status", v)
		}
		n := int(v[0]-'0')*100 + int(v[1]-'0')*10 + int(v[2]-'0')
		if n < 100 {
			return pos, ErrBadStatus
		}
		r.Status = n
		r.Has |= FieldStatus
	} else {
		if i = bytes.IndexByte(b, ' '); i < 0 {
			return pos, ErrMismatch
		}
		v, b = b[:i], b[i+1:]
		if vars {
			hv[4].set("status", v)
		}
		if err := r.set(varStatus, v); err != nil {
			return pos, err
		}
	}

	// $body_bytes_sent, up to ` "`: digits, whose end is the first space.
	var n uint64
	i = 0
	for i < len(b) && isDigit(b[i]) {
		n = n*10 + uint64(b[i]-'0')
		i++
	}
	if i > 0 && i <= 18 && i+1 < len(b) && b[i] == ' ' && b[i+1] == '"' {
		v, b = b[:i], b[i+2:]
		if vars {
			hv[5].set("body_bytes_sent", v)
		}
		r.Bytes = int64(n)
		r.Has |= FieldBytes
		r.haveBB = true
	} else {
		if i = index2(b, ' ', '"'); i < 0 {
			return pos, ErrMismatch
		}
		v, b = b[:i], b[i+2:]
		if vars {
			hv[5].set("body_bytes_sent", v)
		}
		if err := r.set(varBodyBytes, v); err != nil {
			return pos, err
		}
	}

	// $http_referer, up to `" "`.
	if len(b) >= 4 && b[0] == '-' && b[1] == '"' && b[2] == ' ' && b[3] == '"' {
		v, b = b[:1], b[4:]
	} else {
		if i = index3(b, '"', ' ', '"'); i < 0 {
			return pos, ErrMismatch
		}
		v, b = b[:i], b[i+3:]
		if !absent(v) {
			r.Referer = v
			r.Has |= FieldReferer
		}
	}
	if vars {
		hv[6].set("http_referer", v)
	}
	return len(line) - len(b), nil
}

// headUserAgent parses the $http_user_agent after combinedHead: up to the
// line's final `"` (lit '"', combined) or up to `" ` (lit ' ', main and
// others that log more after it).
func (r *Record) headUserAgent(line []byte, pos int, lit byte, vars bool) (int, error) {
	var v []byte
	if lit == '"' {
		end := len(line) - 1
		if end < pos || line[end] != '"' {
			return pos, ErrMismatch
		}
		v, pos = line[pos:end], len(line)
	} else {
		i := index2(line[pos:], '"', ' ')
		if i < 0 {
			return pos, ErrMismatch
		}
		v, pos = line[pos:pos+i], pos+i+2
	}
	if vars {
		r.Vars = r.Vars[:len(r.Vars)+1] // run made room
		r.Vars[len(r.Vars)-1].set("http_user_agent", v)
	}
	if !absent(v) {
		r.UserAgent = v
		r.Has |= FieldUserAgent
	}
	return pos, nil
}

// absent reports whether a text value means "none": `-` or empty.
func absent(v []byte) bool { return len(v) == 0 || len(v) == 1 && v[0] == '-' }

func isDigit(c byte) bool { return c-'0' < 10 }

// index2 is bytes.Index(b, {c0, c1}).
func index2(b []byte, c0, c1 byte) int {
	for off := 0; ; {
		j := bytes.IndexByte(b[off:], c0)
		if j < 0 {
			return -1
		}
		j += off
		if j+1 >= len(b) {
			return -1
		}
		if b[j+1] == c1 {
			return j
		}
		off = j + 1
	}
}

// index3 is bytes.Index(b, {c0, c1, c2}).
func index3(b []byte, c0, c1, c2 byte) int {
	for off := 0; ; {
		j := bytes.IndexByte(b[off:], c0)
		if j < 0 {
			return -1
		}
		j += off
		if j+2 >= len(b) {
			return -1
		}
		if b[j+1] == c1 && b[j+2] == c2 {
			return j
		}
		off = j + 1
	}
}

// indexLit is bytes.Index for the short literals between variables (`" "`,
// `] "`): its first byte is rare enough in values that finding it with
// IndexByte and comparing the rest beats bytes.Index's general set-up.
func indexLit(b, lit []byte) int {
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
func (r *Record) set(k varKind, v []byte) error {
	if k == varIgnore || len(v) == 1 && v[0] == '-' || len(v) == 0 && textKind[k] {
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
		return r.setTimeLocal(v)
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
		r.setRequest(v)
	case varMethod:
		r.Method = v
		r.Has |= FieldMethod
	case varRequestURI:
		r.setTarget(v)
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
		if err := r.setUpstream(v); err != nil {
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

// setTimeLocal reads a $time_local. A log's consecutive lines mostly share
// the second or the minute of the line before, so comparing with it is
// cheaper than reading the time afresh.
func (r *Record) setTimeLocal(v []byte) error {
	if r.haveLTL && len(v) == len(r.lastTL) {
		last := r.lastTL[:]
		// Bytes 0..17 are the date, hour and minute, 18..19 the seconds,
		// 20..25 the zone; compared eight bytes at a time.
		// (^ and | bind alike in Go: the parentheses matter.)
		diff := (le64(v[0:]) ^ le64(last[0:])) | (le64(v[8:]) ^ le64(last[8:])) |
			uint64(le16(v[16:])^le16(last[16:])) | uint64(le32(v[20:])^le32(last[20:])) | uint64(le16(v[24:])^le16(last[24:]))
		if diff == 0 {
			if v[18] == last[18] && v[19] == last[19] {
				r.Time = r.lastT
				r.Has |= FieldTime
				return nil
			}
			if isDigit(v[18]) && isDigit(v[19]) {
				// The calendar arithmetic of parseTimeLocal is linear in
				// the seconds: move the last time.
				s := int(v[18]-'0')*10 + int(v[19]-'0')
				if s <= 60 {
					prev := int(last[18]-'0')*10 + int(last[19]-'0') // digits: parseTimeLocal accepted them
					t := r.lastT.Add(time.Duration(s-prev) * time.Second)
					r.Time = t
					r.Has |= FieldTime
					copy(r.lastTL[:], v)
					r.lastT = t
					return nil
				}
			}
		}
	}
	t, ok := parseTimeLocal(v)
	if !ok {
		return ErrBadTime
	}
	r.Time = t
	r.Has |= FieldTime
	copy(r.lastTL[:], v) // parseTimeLocal accepts exactly 26 bytes
	r.lastT, r.haveLTL = t, true
	return nil
}

// spaceIn8 is the index of the first space in the eight bytes of w (read
// little-endian), or 8 if there is none. The zero-byte test may also flag
// a byte above a true match (its borrow), never below: the lowest flag is
// exact.
func spaceIn8(w uint64) int {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lsb * ' ')
	return bits.TrailingZeros64((x-lsb)&^x&msb) >> 3
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }

// textKind marks the variables whose values are text rather than numbers
// or times.
var textKind = [...]bool{
	varRemoteAddr: true, varRemoteUser: true, varRequest: true, varMethod: true,
	varRequestURI: true, varURI: true, varArgs: true, varProtocol: true,
	varReferer: true, varUserAgent: true, varXFF: true, varHost: true,
	varUpstreamTime: true,
}

// setRequest splits `GET /a/b?x=1 HTTP/1.1`. A request line that is not
// three parts (a TLS handshake sent to the HTTP port, a bare path) keeps the
// whole text as the path: nginx logged it, so it is a good line.
func (r *Record) setRequest(v []byte) {
	// Most methods end within a word and most protocols are eight bytes
	// (HTTP/1.1): a word each finds both spaces when that holds.
	n := len(v)
	sp, last := 8, -1
	if n >= 17 {
		sp = spaceIn8(le64(v))
		if v[n-9] == ' ' && spaceIn8(le64(v[n-8:])) == 8 {
			last = n - 9
		}
	}
	if sp == 8 {
		sp = bytes.IndexByte(v, ' ')
	}
	if last < 0 {
		last = bytes.LastIndexByte(v, ' ')
	}
	if sp <= 0 || last == sp {
		if sp > 0 && last == sp { // HTTP/0.9: `GET /path`
			r.Method = v[:sp]
			r.Has |= FieldMethod
			r.setTarget(v[sp+1:])
			return
		}
		r.Path = v
		r.Has |= FieldPath
		return
	}
	r.Method = v[:sp]
	r.Protocol = v[last+1:]
	r.Has |= FieldMethod | FieldProtocol
	r.setTarget(v[sp+1 : last])
}

// setTarget splits a request target into path and query.
func (r *Record) setTarget(v []byte) {
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
func (r *Record) setUpstream(v []byte) error {
	times := r.upBuf[:0]
	for len(v) > 0 {
		j := 0
		for j < len(v) && v[j] != ',' && v[j] != ':' {
			j++
		}
		el := trimSpace(v[:j])
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

// trimSpace is bytes.TrimSpace without its call for the ASCII spaces
// around upstream times; it hands anything else to bytes.TrimSpace.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	if i < j && (b[i] >= 0x80 || b[j-1] >= 0x80) {
		return bytes.TrimSpace(b)
	}
	return b[i:j]
}

func isSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }
