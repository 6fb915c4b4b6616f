// Package config loads canopyd's YAML configuration (conf/canopyd.yaml).
// Process settings (listen address, data folder) are flags; what canopy
// reads, runs and serves is configured here. Each subsystem owns its section.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// DefaultFile is canopyd's config when installed; it is optional.
const DefaultFile = "/etc/canopy/canopyd.yaml"

// InstalledDataDir is the data folder of an installed canopyd (the
// systemd unit's StateDirectory).
const InstalledDataDir = "/var/lib/canopy"

// DefaultDataDir is the data folder when -data is not given: the
// installed one when the config is the installed one, else the user's
// state folder ($XDG_STATE_HOME/canopy, ~/.local/state/canopy), so that
// no default depends on the working directory.
func DefaultDataDir(configPath string) string {
	if filepath.Clean(configPath) == DefaultFile {
		if fi, err := os.Stat(InstalledDataDir); err == nil && fi.IsDir() {
			return InstalledDataDir
		}
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "canopy")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "canopy")
	}
	return filepath.Join(os.TempDir(), "canopy")
}

// Config is the whole canopyd.yaml.
type Config struct {
	// Path is the file the config was read from ("" when none was:
	// defaults). Relative paths in it are taken from its folder.
	Path string `yaml:"-"`
	// Sources are access logs to tail.
	Sources []Source `yaml:"sources"`
	// Pipes configures the WASM pipes folder and per-pipe settings.
	Pipes PipesConfig `yaml:"pipes"`
	// Listeners are TCP/UDP push sockets.
	Listeners []Listener `yaml:"listeners"`
	// Tokens enable auth when non-empty.
	Tokens []Token `yaml:"tokens"`
	// Limits bound what one request may cost.
	Limits Limits `yaml:"limits"`
	// Trend configures the history store.
	Trend TrendConfig `yaml:"trend"`
}

// Source is one log file or glob to follow.
type Source struct {
	Path      string `yaml:"path"`
	LogFormat string `yaml:"log_format"`
	Prefix    string `yaml:"prefix"`
	// Line is where the source's path is in the config file, for warnings.
	Line int `yaml:"-"`
}

// PipesConfig configures the pipes folder.
type PipesConfig struct {
	// Dir is the pipes folder: its .wasm files run besides the built-in
	// pipes, a file with a built-in's name replacing it. Relative to the
	// config file's folder.
	Dir string `yaml:"dir"`
	// Disable lists pipes (built-in or in the folder) that do not run.
	Disable []string `yaml:"disable"`
	// PushLogFormat is the log_format of access-log lines pushed over HTTP
	// and sockets; empty tries "main", then "combined", then JSON lines.
	PushLogFormat string `yaml:"push_log_format"`
	// Config holds per-pipe settings keyed by pipe name.
	Config map[string]PipeConfig `yaml:"config"`
}

// PipeConfig is the per-pipe section.
type PipeConfig struct {
	Disabled bool              `yaml:"disabled"`
	Params   map[string]string `yaml:"params"`
	MemoryMB int               `yaml:"memory_mb"`
	// Timeout caps one call into the pipe (default 1s). A batch whose call
	// passes it runs once more on a fresh instance with twice the cap
	// (host.RetryLimitFactor); only if that fails too is it dropped.
	Timeout string `yaml:"timeout"`
	// MaxKeys caps the keys the pipe may create in the tree while loaded
	// (0: the default, 1,000,000); past it the pipe is quarantined.
	MaxKeys int `yaml:"max_keys"`
	// ReadDirs grants read-only directories: "HOSTDIR" (seen at the same
	// path) or "HOSTDIR:GUESTPATH". Pipes get no filesystem otherwise.
	ReadDirs []string `yaml:"read_dirs"`
	// ReadFiles grants single read-only files (the geo pipe's database),
	// seen at the same path; nothing else of their directory is visible.
	ReadFiles []string `yaml:"read_files"`
}

// Listener is one push socket.
type Listener struct {
	Proto  string `yaml:"proto"`  // tcp | udp
	Listen string `yaml:"listen"` // host:port
	Format string `yaml:"format"` // json | accesslog | statsd | graphite | syslog
	// Prefix is the tree key StatsD and Graphite metrics land under
	// (default "statsd" / "graphite"); for syslog (nginx access lines)
	// it prefixes the pipes' paths, like a source's prefix (default none).
	Prefix string `yaml:"prefix"`
	// Action is how Graphite values merge: last (default), add, average,
	// max or min.
	Action string `yaml:"action"`
	// MaxAge is how old a Graphite line's own timestamp may be (a Go
	// duration, default 24h); older lines, and lines more than a minute
	// ahead, are refused and counted.
	MaxAge string `yaml:"max_age"`
	// Percentiles are the StatsD timer percent thresholds (etsy's
	// percentThreshold, default [90]): each adds upper_P, mean_P, … .
	Percentiles []float64 `yaml:"percentiles"`
	// ReadBuffer is the UDP socket receive buffer asked for, in bytes
	// (default 16 MiB).
	ReadBuffer int `yaml:"read_buffer"`
	// Readers is the number of goroutines reading a UDP socket (default 2).
	Readers int `yaml:"readers"`
	// MaxConns caps concurrent TCP connections (default 1000).
	MaxConns int `yaml:"max_conns"`
	// MaxSeries caps the distinct StatsD/Graphite paths the listener
	// writes (default 100,000); lines with new names past it are bad.
	MaxSeries int `yaml:"max_series"`
}

// Token grants scopes to a bearer token.
type Token struct {
	Name   string   `yaml:"name"`
	Token  string   `yaml:"token"`
	Scopes []string `yaml:"scopes"` // read, write
}

// Limits bound request cost; zero means the default.
type Limits struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	MaxLineBytes int   `yaml:"max_line_bytes"`
	MaxJSONDepth int   `yaml:"max_json_depth"`
	MaxPushNodes int   `yaml:"max_push_nodes"`
	MaxLongPolls int   `yaml:"max_long_polls"`
	MaxTreeNodes int   `yaml:"max_tree_nodes"`
}

// TrendConfig selects the history backend (owned by daemon/trend).
type TrendConfig struct {
	// Remote, when set, is the URL of an external VictoriaMetrics server
	// (single node: http://vm:8428) or a cluster's vminsert
	// (http://vminsert:8480/insert/0/prometheus); the embedded store is
	// not opened then.
	Remote string `yaml:"remote"`
	// RemoteRead is where reads go when they differ from Remote: a
	// cluster's vmselect (http://vmselect:8481/select/0/prometheus).
	RemoteRead string `yaml:"remote_read"`
}

// Load reads path. A missing file is not an error when optional is true: the
// defaults apply. Unknown keys are errors, so typos are caught.
func Load(path string, optional bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return &Config{}, nil
		}
		return nil, fmt.Errorf("cannot read config %q: %w", path, err)
	}
	c, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	c.Path = path
	c.Pipes.Dir = c.Rel(c.Pipes.Dir)
	for i := range c.Sources {
		c.Sources[i].Path = c.Rel(c.Sources[i].Path)
	}
	return c, nil
}

// Rel returns p taken from the config file's folder when p is relative
// ("" stays "").
func (c *Config) Rel(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

// Parse decodes a config; name is used in errors, which are one line each:
// "config NAME:LINE: what is wrong", so an operator can go straight there.
func Parse(data []byte, name string) (*Config, error) {
	var c Config
	if err := DecodeStrict(data, &c); err != nil {
		var pe *PosError
		if errors.As(err, &pe) && pe.Line > 0 {
			if pe.wrongType {
				if k := keyAt(docBody(data), pe.Line, ""); k != "" {
					return nil, fmt.Errorf("config %s:%d: %s: %s", name, pe.Line, k, pe.Msg)
				}
			}
			return nil, fmt.Errorf("config %s:%d: %s", name, pe.Line, pe.Msg)
		}
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	root := docBody(data) // it decoded above: only positions are wanted
	if err := c.Validate(); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			if line := lineOf(root, fe.path); line > 0 {
				return nil, fmt.Errorf("config %s:%d: %s", name, line, fe.msg)
			}
		}
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	for i := range c.Sources {
		c.Sources[i].Line = lineOf(root, fmt.Sprintf("sources.%d.path", i))
	}
	return &c, nil
}

// fieldError is a Validate error at a dotted path (sources.0.path) into
// the document, so Parse can say which line it is on.
type fieldError struct{ path, msg string }

func (e *fieldError) Error() string { return e.msg }

func fieldErr(path, format string, args ...any) error {
	return &fieldError{path, fmt.Sprintf(format, args...)}
}

// docBody is the first document's top node (nil when there is none).
func docBody(data []byte) ast.Node {
	f, err := parser.ParseBytes(data, 0)
	if err != nil || len(f.Docs) == 0 {
		return nil
	}
	return f.Docs[0].Body
}

// unwrap skips the anchor and tag around a value.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
}

// pairs are a mapping's key/value pairs (a one-key mapping parses as the
// pair itself); nil when n is not a mapping.
func pairs(n ast.Node) []*ast.MappingValueNode {
	switch v := unwrap(n).(type) {
	case *ast.MappingNode:
		return v.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}
	}
	return nil
}

func lineAt(n ast.Node) int {
	if n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

func keyName(kv *ast.MappingValueNode) string {
	if tk := kv.Key.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// lineOf is the line of the node at a dotted path (map keys and sequence
// indexes), or of its deepest ancestor present: a missing key is reported
// where its section is. 0 when there is no document.
func lineOf(n ast.Node, path string) int {
	if n == nil {
		return 0
	}
	line := lineAt(n)
	for _, seg := range strings.Split(path, ".") {
		var next ast.Node
		if seq, ok := unwrap(n).(*ast.SequenceNode); ok {
			if k, err := strconv.Atoi(seg); err == nil && k >= 0 && k < len(seq.Values) {
				next = seq.Values[k]
				line = lineAt(next)
			}
		} else {
			for _, kv := range pairs(n) {
				if keyName(kv) == seg {
					next, line = kv.Value, lineAt(kv.Key)
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// keyAt is the dotted path (limits.max_body_bytes) of the first value on
// line, "" when none: it names the key a wrong-type error is about.
func keyAt(n ast.Node, line int, at string) string {
	if n == nil {
		return ""
	}
	if seq, ok := unwrap(n).(*ast.SequenceNode); ok {
		for i, c := range seq.Values {
			if k := keyAt(c, line, fmt.Sprintf("%s[%d]", at, i)); k != "" {
				return k
			}
		}
		return ""
	}
	for _, kv := range pairs(n) {
		p := strings.TrimPrefix(at+"."+keyName(kv), ".")
		// deepest first: a section's mapping starts on its first key's line
		if k := keyAt(kv.Value, line, p); k != "" {
			return k
		}
		if lineAt(kv.Value) == line {
			return p
		}
	}
	return ""
}

// CheckSources returns one warning per source whose path is missing or
// whose glob matches no file, naming the config line. Those are not errors:
// canopyd follows a file that appears later (nginx creating its log after
// canopyd starts is normal), but a typo would otherwise be silent. A log
// that exists but cannot be read is the follower's to report.
func (c *Config) CheckSources() []string {
	var out []string
	for i, s := range c.Sources {
		where := fmt.Sprintf("config %s:%d: sources[%d]", c.Path, s.Line, i)
		if s.Line == 0 {
			where = fmt.Sprintf("config %s: sources[%d]", c.Path, i)
		}
		if w := CheckSource(where, s.Path); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// CheckSource is CheckSources' warning for one log path or glob ("" when
// there is nothing to say); where names it (a config line, -log).
func CheckSource(where, path string) string {
	if strings.ContainsAny(path, "*?[") {
		m, err := filepath.Glob(path)
		switch {
		case err != nil:
			return fmt.Sprintf("%s: glob %q is malformed: %v", where, path, err)
		case len(m) == 0:
			return fmt.Sprintf("%s: glob %q matches no file yet; files that appear are followed", where, path)
		}
		return ""
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("%s: log %q does not exist yet; it is followed once it appears", where, path)
	}
	return ""
}

// Validate checks values the YAML decoder cannot.
func (c *Config) Validate() error {
	for i, l := range c.Listeners {
		switch l.Proto {
		case "tcp", "udp":
		default:
			return fieldErr(fmt.Sprintf("listeners.%d.proto", i), "listeners[%d]: proto %q: want tcp or udp", i, l.Proto)
		}
		switch l.Format {
		case "json", "accesslog", "statsd", "graphite", "syslog":
		default:
			return fieldErr(fmt.Sprintf("listeners.%d.format", i), "listeners[%d]: format %q: want json, accesslog, statsd, graphite or syslog", i, l.Format)
		}
		if l.Listen == "" {
			return fieldErr(fmt.Sprintf("listeners.%d.listen", i), "listeners[%d]: listen address is empty", i)
		}
		switch l.Action {
		case "", "add", "average", "max", "min", "last":
		default:
			return fieldErr(fmt.Sprintf("listeners.%d.action", i), "listeners[%d]: action %q: want add, average, max, min or last", i, l.Action)
		}
		if l.Action != "" && l.Format != "graphite" {
			return fieldErr(fmt.Sprintf("listeners.%d.action", i), "listeners[%d]: action is only for format graphite", i)
		}
		if l.Prefix != "" && l.Format != "statsd" && l.Format != "graphite" && l.Format != "syslog" {
			return fieldErr(fmt.Sprintf("listeners.%d.prefix", i), "listeners[%d]: prefix is only for formats statsd, graphite and syslog", i)
		}
		if l.ReadBuffer < 0 || l.Readers < 0 || l.MaxConns < 0 || l.MaxSeries < 0 {
			return fieldErr(fmt.Sprintf("listeners.%d", i), "listeners[%d]: read_buffer, readers, max_conns and max_series must not be negative", i)
		}
	}
	for i, t := range c.Tokens {
		if t.Token == "" {
			return fieldErr(fmt.Sprintf("tokens.%d.token", i), "tokens[%d]: token is empty", i)
		}
		for _, s := range t.Scopes {
			if s != "read" && s != "write" {
				return fieldErr(fmt.Sprintf("tokens.%d.scopes", i), "tokens[%d]: scope %q: want read or write", i, s)
			}
		}
	}
	if c.Trend.RemoteRead != "" && c.Trend.Remote == "" {
		return fieldErr("trend.remote_read", "trend: remote_read is set but remote (where points are written) is not")
	}
	for i, s := range c.Sources {
		if s.Path == "" {
			return fieldErr(fmt.Sprintf("sources.%d.path", i), "sources[%d]: path is empty", i)
		}
	}
	return nil
}

// DecodeStrict decodes YAML into v, refusing unknown keys so typos are
// caught; an empty document leaves v as it is. canopyd.yaml, relay.conf and
// agent.conf all decode through it. Its error is a *PosError: one line
// with the line number of the problem, said in the config's terms (keys
// and kinds of values, not Go types).
func DecodeStrict(data []byte, v any) error {
	err := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField()).Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var (
		pe *PosError
		uf *yaml.UnknownFieldError
		te *yaml.TypeError
		nt *yaml.UnexpectedNodeTypeError
		ov *yaml.OverflowError
		ye yaml.Error
	)
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &uf):
		return &PosError{Line: tokenLine(uf.Token),
			Msg: fmt.Sprintf("unknown key %q (a typo? see conf/canopyd.yaml for the keys)", uf.Token.Value)}
	case errors.As(err, &te):
		return &PosError{Line: tokenLine(te.Token), wrongType: true,
			Msg: fmt.Sprintf("wrong type: %s %q where %s is wanted", kindOf(te.SrcType), te.Token.Value, goKind(te.DstType))}
	case errors.As(err, &nt):
		return &PosError{Line: tokenLine(nt.Token), wrongType: true,
			Msg: fmt.Sprintf("wrong type: %s %q where %s is wanted", nodeKind(nt.Actual), nt.Token.Value, withArticle(nodeKind(nt.Expected)))}
	case errors.As(err, &ov):
		return &PosError{Line: tokenLine(ov.Token), wrongType: true,
			Msg: fmt.Sprintf("number %s is too big for %s", ov.SrcNum, goKind(ov.DstType))}
	case errors.As(err, &ye):
		msg := ye.GetMessage()
		if strings.Contains(msg, "\t") {
			msg = "a tab character: indent YAML with spaces"
		}
		return &PosError{Line: tokenLine(ye.GetToken()), Msg: msg}
	}
	return &PosError{Msg: err.Error()}
}

// PosError is a YAML error at a line (0 when the parser gave none).
type PosError struct {
	Line int
	Msg  string
	// wrongType says Msg is about a value's type, so Parse names its key.
	wrongType bool
}

func (e *PosError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

func tokenLine(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

// kindOf names the kind of value a Go type decoded from YAML holds.
func kindOf(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map:
		return "mapping"
	}
	return t.Kind().String()
}

// nodeKind names the kind of a YAML node.
func nodeKind(k ast.NodeType) string {
	switch k {
	case ast.StringType, ast.LiteralType:
		return "string"
	case ast.IntegerType:
		return "integer"
	case ast.FloatType, ast.InfinityType, ast.NanType:
		return "number"
	case ast.BoolType:
		return "boolean"
	case ast.NullType:
		return "null"
	case ast.SequenceType:
		return "list"
	case ast.MappingType, ast.MappingValueType:
		return "mapping"
	}
	return strings.ToLower(k.String())
}

func withArticle(kind string) string {
	if strings.IndexByte("aeiou", kind[0]) >= 0 {
		return "an " + kind
	}
	return "a " + kind
}

// goKind says what a Go type wants, in the config's words.
func goKind(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	switch kindOf(t) {
	case "integer":
		return "an integer"
	case "number":
		return "a number"
	case "boolean":
		return "true or false"
	case "string":
		return "a string"
	case "list":
		return "a list"
	case "mapping":
		return "a mapping"
	}
	return "a " + strings.ToLower(t.Name()) + " section"
}
