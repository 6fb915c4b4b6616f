package push

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Limits bound what one request, line or client may cost. Every limit is
// answered with a 4xx naming the limit and its config key.
type Limits struct {
	MaxBodyBytes int64 // a request body (413)
	MaxLineBytes int   // one access-log or socket line (413)
	MaxJSONDepth int   // nesting of a JSON push (400)
	MaxPushNodes int   // object members in one JSON push (413)
	MaxLongPolls int   // concurrent /pull waiters and event streams (429)
	MaxTreeNodes int   // nodes in the whole tree (413; tree.SetMaxNodes)
}

// Default limits.
const (
	DefaultMaxBodyBytes = 8 << 20
	DefaultMaxLineBytes = 64 << 10
	DefaultMaxJSONDepth = 64
	DefaultMaxPushNodes = 100_000
	DefaultMaxLongPolls = 10_000
	// DefaultMaxTreeNodes keeps a full tree and its trend series under
	// 1 GiB resident (~200 B a node, ~1 KiB a new series; TestCardinality
	// measures it): far above what logs and hosts make (a busy site: tens
	// of thousands), far below what distinct keys in a loop would reach.
	DefaultMaxTreeNodes = 500_000
)

// ErrPushNodes is wrapped by the LimitError of a push with more than
// MaxPushNodes nodes; a push over MaxTreeNodes wraps tree.ErrFull.
var ErrPushNodes = errors.New("too many nodes in one push")

// LimitsFrom applies the defaults to the `limits` config section.
func LimitsFrom(c config.Limits) Limits {
	l := Limits{c.MaxBodyBytes, c.MaxLineBytes, c.MaxJSONDepth, c.MaxPushNodes, c.MaxLongPolls, c.MaxTreeNodes}
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
	if l.MaxTreeNodes <= 0 {
		l.MaxTreeNodes = DefaultMaxTreeNodes
	}
	return l
}

// LimitError is a request over a limit: Code is the HTTP status, Key the
// limit's config key (max_json_depth), Msg what the client is told, Err
// the sentinel it wraps (for errors.Is), if any.
type LimitError struct {
	Code int
	Key  string
	Msg  string
	Err  error
}

func (e *LimitError) Error() string { return e.Msg }

// Unwrap returns the sentinel e wraps.
func (e *LimitError) Unwrap() error { return e.Err }

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
				e := limitError(http.StatusRequestEntityTooLarge, "max_push_nodes", "push has more than %d nodes", l.MaxPushNodes)
				e.Err = ErrPushNodes
				return e
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

// TreeFull turns a merge error that wraps tree.ErrFull into the answer to
// the push (413 naming limits.max_tree_nodes); other errors give nil.
func (l Limits) TreeFull(err error) *LimitError {
	if !errors.Is(err, tree.ErrFull) {
		return nil
	}
	e := limitError(http.StatusRequestEntityTooLarge, "max_tree_nodes", "push refused, nothing merged: %v", err)
	e.Err = err
	return e
}
