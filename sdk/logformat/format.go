// Package logformat compiles nginx `log_format` strings into fast access-log
// line parsers and classifies user agents.
//
// A format is pasted as it stands in nginx.conf — `$variables` and literal
// text, optionally with the `log_format NAME escape=json '...' '...';`
// wrapper — or named by a preset (`combined`, `main`, `json`). Compile turns
// it into a small program of (variable, following literal) steps; Parse runs
// that program over a line with plain byte searches (no regular expressions)
// and fills a Record with typed fields. JSON log lines (nginx
// `escape=json` formats, or any flat JSON object using nginx variable names)
// are parsed by a small JSON object scanner, independent of key order.
//
// A line that does not match returns an error the caller counts as bad;
// Parse never panics.
package logformat

import (
	"bytes"
	"fmt"
	"strings"
)

// Preset formats. `combined` is nginx's predefined format; `main` is
// combined plus the two timing variables canopy's time pipes read.
const (
	Combined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
	Main     = Combined + ` $request_time $upstream_response_time`
)

// Presets maps preset names to format strings. `json` is handled specially:
// flat JSON objects whose keys are nginx variable names (or common aliases).
var presets = map[string]string{
	"combined": Combined,
	"main":     Main,
}

// Field is a bit set of the typed fields a Record can carry.
type Field uint32

// The typed fields of a Record.
const (
	FieldTime Field = 1 << iota
	FieldRemoteAddr
	FieldRemoteUser
	FieldMethod
	FieldPath
	FieldQuery
	FieldProtocol
	FieldStatus
	FieldBytes
	FieldRequestTime
	FieldUpstreamTime
	FieldReferer
	FieldUserAgent
	FieldXForwardedFor
	FieldHost
)

var fieldNames = [...]string{
	"time", "remote_addr", "remote_user", "method", "path", "query",
	"protocol", "status", "bytes", "request_time", "upstream_time",
	"referer", "user_agent", "x_forwarded_for", "host",
}

// String lists the names of the fields in f, comma separated.
func (f Field) String() string {
	var parts []string
	for i, n := range fieldNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ",")
}

// varKind says what an nginx variable fills in a Record.
type varKind uint8

const (
	varIgnore varKind = iota // a variable canopy does not type ($host is typed, $ssl_cipher is not)
	varRemoteAddr
	varRemoteUser
	varTimeLocal
	varTimeISO
	varMsec
	varTimeAuto // JSON aliases like "time": any of the three time forms
	varRequest
	varMethod
	varRequestURI
	varURI
	varArgs
	varProtocol
	varStatus
	varBodyBytes
	varBytesSent
	varRequestTime
	varUpstreamTime
	varReferer
	varUserAgent
	varXFF
	varHost
)

var varKinds = map[string]varKind{
	"remote_addr":            varRemoteAddr,
	"realip_remote_addr":     varRemoteAddr,
	"remote_user":            varRemoteUser,
	"time_local":             varTimeLocal,
	"time_iso8601":           varTimeISO,
	"msec":                   varMsec,
	"request":                varRequest,
	"request_method":         varMethod,
	"request_uri":            varRequestURI,
	"uri":                    varURI,
	"document_uri":           varURI,
	"args":                   varArgs,
	"query_string":           varArgs,
	"server_protocol":        varProtocol,
	"status":                 varStatus,
	"body_bytes_sent":        varBodyBytes,
	"bytes_sent":             varBytesSent,
	"request_time":           varRequestTime,
	"upstream_response_time": varUpstreamTime,
	"http_referer":           varReferer,
	"http_user_agent":        varUserAgent,
	"http_x_forwarded_for":   varXFF,
	"host":                   varHost,
	"http_host":              varHost,
	"server_name":            varHost,
}

// jsonAliases are key names of JSON logs written by hand-made formats and
// other tools, used when no template says what a key holds.
var jsonAliases = map[string]varKind{
	"time":             varTimeAuto,
	"timestamp":        varTimeAuto,
	"@timestamp":       varTimeAuto,
	"ts":               varTimeAuto,
	"ip":               varRemoteAddr,
	"client":           varRemoteAddr,
	"client_ip":        varRemoteAddr,
	"remote_ip":        varRemoteAddr,
	"method":           varMethod,
	"path":             varURI,
	"query":            varArgs,
	"protocol":         varProtocol,
	"bytes":            varBodyBytes,
	"size":             varBodyBytes,
	"duration":         varRequestTime,
	"upstream_time":    varUpstreamTime,
	"referer":          varReferer,
	"referrer":         varReferer,
	"user_agent":       varUserAgent,
	"useragent":        varUserAgent,
	"agent":            varUserAgent,
	"ua":               varUserAgent,
	"x_forwarded_for":  varXFF,
	"xff":              varXFF,
	"forwarded_for":    varXFF,
	"response_status":  varStatus,
	"status_code":      varStatus,
	"upstream_latency": varUpstreamTime,
}

var kindFields = [...]Field{
	varRemoteAddr:   FieldRemoteAddr,
	varRemoteUser:   FieldRemoteUser,
	varTimeLocal:    FieldTime,
	varTimeISO:      FieldTime,
	varMsec:         FieldTime,
	varTimeAuto:     FieldTime,
	varRequest:      FieldMethod | FieldPath | FieldQuery | FieldProtocol,
	varMethod:       FieldMethod,
	varRequestURI:   FieldPath | FieldQuery,
	varURI:          FieldPath,
	varArgs:         FieldQuery,
	varProtocol:     FieldProtocol,
	varStatus:       FieldStatus,
	varBodyBytes:    FieldBytes,
	varBytesSent:    FieldBytes,
	varRequestTime:  FieldRequestTime,
	varUpstreamTime: FieldUpstreamTime,
	varReferer:      FieldReferer,
	varUserAgent:    FieldUserAgent,
	varXFF:          FieldXForwardedFor,
	varHost:         FieldHost,
	varIgnore:       0,
}

// step is one variable of a text format and the literal text that follows
// it (empty for a variable at the end of the format).
type step struct {
	kind varKind
	name string
	lit  []byte
	last bool // lit is the format's final literal: match it as the line's suffix
}

// program is a text format compiled: a leading literal, then steps.
type program struct {
	prefix []byte
	steps  []step
	head   int  // index of the steps of combinedHead in steps, or -1
	headUA byte // the literal after the $http_user_agent that follows the head: '"' ending the line, ' ' for `" `, 0 for neither
}

// Format is a compiled log format. It is immutable and safe for concurrent
// use.
type Format struct {
	spec   string
	json   bool
	text   program
	keys   map[string]program // JSON mode: key → program run over the value
	fields Field
}

// Spec returns the format text the Format was compiled from.
func (f *Format) Spec() string { return f.spec }

// IsJSON reports whether f parses JSON lines.
func (f *Format) IsJSON() bool { return f.json }

// Fields returns the fields a line in this format can carry.
func (f *Format) Fields() Field { return f.fields }

// MustCompile is Compile for formats known to be good (presets, tests).
func MustCompile(spec string) *Format {
	f, err := Compile(spec)
	if err != nil {
		panic(err)
	}
	return f
}

// Compile compiles a log format: a preset name (`combined`, `main`, `json`,
// empty = combined), a bare format string, or an nginx `log_format`
// directive pasted as-is (`log_format main escape=json '...' '...';`).
func Compile(spec string) (*Format, error) {
	text, isJSON, err := unwrap(spec)
	if err != nil {
		return nil, err
	}
	f := &Format{spec: spec}
	switch {
	case text == "json":
		f.json = true
		return f, nil // aliases only; every known field may come
	case isJSON || strings.HasPrefix(strings.TrimSpace(text), "{"):
		f.json = true
		if err := f.compileJSON(strings.TrimSpace(text)); err != nil {
			return nil, err
		}
		return f, nil
	}
	p, err := compileText(text)
	if err != nil {
		return nil, fmt.Errorf("cannot compile log format %q: %w", spec, err)
	}
	f.text = p
	f.fields = p.fields()
	return f, nil
}

func (p program) fields() Field {
	var f Field
	for _, s := range p.steps {
		f |= kindFields[s.kind]
	}
	return f
}

// unwrap strips the nginx directive around a format: the `log_format NAME`
// head, `escape=` options, the quotes around each part and the final `;`.
// It resolves preset names.
func unwrap(spec string) (text string, isJSON bool, err error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return Combined, false, nil
	}
	if p, ok := presets[s]; ok {
		return p, false, nil
	}
	if rest, ok := strings.CutPrefix(s, "log_format"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n') {
		rest = strings.TrimSpace(rest)
		// The name.
		i := strings.IndexAny(rest, " \t\r\n")
		if i < 0 {
			return "", false, fmt.Errorf("log_format %q has a name but no format", spec)
		}
		rest = strings.TrimSpace(rest[i:])
		for strings.HasPrefix(rest, "escape=") {
			i := strings.IndexAny(rest, " \t\r\n")
			if i < 0 {
				return "", false, fmt.Errorf("log_format %q has no format after escape=", spec)
			}
			isJSON = isJSON || rest[:i] == "escape=json"
			rest = strings.TrimSpace(rest[i:])
		}
		s = rest
	}
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
	if s == "" {
		return "", false, fmt.Errorf("log format %q is empty", spec)
	}
	if s[0] != '\'' && s[0] != '"' {
		if p, ok := presets[s]; ok {
			return p, isJSON, nil
		}
		return s, isJSON, nil
	}
	// nginx concatenates adjacent quoted parts; a backslash escapes the
	// next character inside a part.
	var b strings.Builder
	for s != "" {
		q := s[0]
		if q != '\'' && q != '"' {
			return "", false, fmt.Errorf("log format %q: text %q outside quotes", spec, s)
		}
		i := 1
		closed := false
		for i < len(s) {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			if c == q {
				closed = true
				i++
				break
			}
			b.WriteByte(c)
			i++
		}
		if !closed {
			return "", false, fmt.Errorf("log format %q: unterminated quote", spec)
		}
		s = strings.TrimSpace(s[i:])
	}
	return b.String(), isJSON, nil
}

// compileText splits a text format into literal and variable parts.
func compileText(text string) (program, error) {
	var p program
	lit, vars, lits, err := splitVars(text)
	if err != nil {
		return p, err
	}
	p.prefix = []byte(lit)
	for i, v := range vars {
		k := varKinds[v]
		s := step{kind: k, name: v, lit: []byte(lits[i])}
		if i+1 < len(vars) && len(s.lit) == 0 {
			return p, fmt.Errorf("$%s and $%s touch with no text between them, so a line cannot be split", v, vars[i+1])
		}
		s.last = i == len(vars)-1 && len(s.lit) > 0
		p.steps = append(p.steps, s)
	}
	p.head = findHead(p.steps)
	if p.head >= 0 {
		switch ua := p.steps[p.head+len(headVars)]; {
		case ua.name != "http_user_agent":
		case ua.last && string(ua.lit) == `"`:
			p.headUA = '"'
		case !ua.last && string(ua.lit) == `" ` && p.head+len(headVars)+1 < len(p.steps):
			p.headUA = ' '
		}
	}
	return p, nil
}

// headVars and headLits are the first seven variables of nginx's combined
// format and the literal after each: the part of most access logs that
// combinedHead parses in straight-line code.
var (
	headVars = [...]string{"remote_addr", "remote_user", "time_local", "request", "status", "body_bytes_sent", "http_referer"}
	headLits = [...]string{" - ", " [", `] "`, `" `, " ", ` "`, `" "`}
)

// findHead returns where steps has combined's first seven variables, each
// followed by its literal, not at the end of the format; -1 if it has not.
func findHead(steps []step) int {
	for i := 0; i+len(headVars) < len(steps); i++ {
		ok := true
		for j, name := range headVars {
			if s := steps[i+j]; s.name != name || string(s.lit) != headLits[j] || s.last {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// splitVars returns the leading literal, the variable names and the literal
// after each variable.
func splitVars(text string) (lead string, vars, lits []string, err error) {
	var cur strings.Builder
	first := true
	for i := 0; i < len(text); {
		c := text[i]
		if c != '$' {
			cur.WriteByte(c)
			i++
			continue
		}
		var name string
		j := i + 1
		if j < len(text) && text[j] == '{' {
			end := strings.IndexByte(text[j:], '}')
			if end < 0 {
				return "", nil, nil, fmt.Errorf("unterminated ${ at offset %d", i)
			}
			name = text[j+1 : j+end]
			j += end + 1
		} else {
			for j < len(text) && isVarByte(text[j]) {
				j++
			}
			name = text[i+1 : j]
		}
		if name == "" {
			// A lone `$` is literal text in nginx too.
			cur.WriteByte(c)
			i++
			continue
		}
		if first {
			lead = cur.String()
			first = false
		} else {
			lits = append(lits, cur.String())
		}
		cur.Reset()
		vars = append(vars, strings.ToLower(name))
		i = j
	}
	if first {
		return "", nil, nil, fmt.Errorf("no $variables")
	}
	lits = append(lits, cur.String())
	return lead, vars, lits, nil
}

func isVarByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// compileJSON reads an nginx escape=json template such as
// `{"time":"$time_iso8601","status":$status,"req":"$request_method $uri"}`
// into a key → program map: each value template is compiled as a text
// format and run over the (unescaped) value of that key in a line.
func (f *Format) compileJSON(text string) error {
	f.keys = map[string]program{}
	var sc jsonScanner
	sc.buf = []byte(text)
	err := sc.object(func(key, val []byte, quoted bool) error {
		v := string(val)
		if !strings.Contains(v, "$") {
			return nil // a constant in the template
		}
		p, err := compileText(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		f.keys[string(key)] = p
		f.fields |= p.fields()
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot compile JSON log format %q: %w", f.spec, err)
	}
	if len(f.keys) == 0 {
		return fmt.Errorf("JSON log format %q has no $variables", f.spec)
	}
	return nil
}

// jsonKeyNames interns the known JSON key names so recording them in
// Record.Vars does not allocate.
var jsonKeyNames = func() map[string]string {
	m := map[string]string{}
	for k := range varKinds {
		m[k] = k
	}
	for k := range jsonAliases {
		m[k] = k
	}
	return m
}()

// kindForJSONKey is the field a key of a template-less JSON line fills, and
// the key's interned name ("" for unknown keys).
func kindForJSONKey(key []byte) (varKind, string) {
	// Map lookups with string(key) do not allocate.
	name := jsonKeyNames[string(key)]
	if k, ok := varKinds[string(key)]; ok {
		return k, name
	}
	if k, ok := jsonAliases[string(key)]; ok {
		return k, name
	}
	if len(key) > 0 && key[0] == '$' {
		return varKinds[string(key[1:])], jsonKeyNames[string(key[1:])]
	}
	if bytes.EqualFold(key, []byte("user-agent")) {
		return varUserAgent, ""
	}
	return varIgnore, ""
}
