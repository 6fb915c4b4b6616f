package push

import (
	"fmt"
	"net/http"

	"github.com/canopy-dev/canopy/daemon/config"
)

// Limits bound what one request, line or client may cost. Every limit is
// answered with a 4xx naming the limit and its config key.
type Limits struct {
	MaxBodyBytes int64 // a request body (413)
	MaxLineBytes int   // one access-log or socket line (413)
	MaxJSONDepth int   // nesting of a JSON push (400)
	MaxPushNodes int   // object members in one JSON push (413)
	MaxLongPolls int   // concurrent /pull waiters and event streams (429)
}

// Default limits.
const (
	DefaultMaxBodyBytes = 8 << 20
	DefaultMaxLineBytes = 64 << 10
	DefaultMaxJSONDepth = 64
	DefaultMaxPushNodes = 100_000
	DefaultMaxLongPolls = 10_000
)

// LimitsFrom applies the defaults to the `limits` config section.
func LimitsFrom(c config.Limits) Limits {
	l := Limits{c.MaxBodyBytes, c.MaxLineBytes, c.MaxJSONDepth, c.MaxPushNodes, c.MaxLongPolls}
	return l.WithDefaults()
}

// WithDefaults fills unset limits with the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultMaxLineBytes
	}
	if l.MaxJSONDepth <= 0 {
		l.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if l.MaxPushNodes <= 0 {
		l.MaxPushNodes = DefaultMaxPushNodes
	}
	if l.MaxLongPolls <= 0 {
		l.MaxLongPolls = DefaultMaxLongPolls
	}
	return l
}

// LimitError is a request over a limit: Code is the HTTP status, Key the
// limit's config key (max_json_depth), Msg what the client is told.
type LimitError struct {
	Code int
	Key  string
	Msg  string
}

func (e *LimitError) Error() string { return e.Msg }

func limitError(code int, key, format string, args ...any) *LimitError {
	return &LimitError{Code: code, Key: key, Msg: fmt.Sprintf(format, args...) + " (limits." + key + ")"}
}

// CheckJSON refuses a push nested deeper than MaxJSONDepth or with more
// than MaxPushNodes object members, in one pass without decoding, so the
// decoder never sees a document that would cost too much. Syntax errors
// are left to the decoder, which reports them with their position.
func (l Limits) CheckJSON(data []byte) *LimitError {
	depth, nodes := 0, 0
	inStr, esc := false, false
	for _, c := range data {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > l.MaxJSONDepth {
				return limitError(http.StatusBadRequest, "max_json_depth", "JSON is nested deeper than %d levels", l.MaxJSONDepth)
			}
		case '}', ']':
			depth--
		case ':':
			nodes++
			if nodes > l.MaxPushNodes {
				return limitError(http.StatusRequestEntityTooLarge, "max_push_nodes", "push has more than %d nodes", l.MaxPushNodes)
			}
		}
	}
	return nil
}

// BodyTooLarge is the answer to a body over MaxBodyBytes.
func (l Limits) BodyTooLarge() *LimitError {
	return limitError(http.StatusRequestEntityTooLarge, "max_body_bytes", "request body is larger than %d bytes", l.MaxBodyBytes)
}

// LineTooLong is the answer to line n of size bytes, over MaxLineBytes.
func (l Limits) LineTooLong(n, size int) *LimitError {
	return limitError(http.StatusRequestEntityTooLarge, "max_line_bytes", "line %d is %d bytes, longer than %d", n, size, l.MaxLineBytes)
}
