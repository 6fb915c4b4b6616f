package logformat

import (
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/internal/uacache"
)

// Parser parses lines of one Format and classifies their user agents once,
// in the host, so pipes get the pieces as plain fields. It keeps a bounded
// cache of classified agents (real logs repeat a few thousand agents
// millions of times). A Parser is not safe for concurrent use: make one per
// worker with Format.NewParser.
type Parser struct {
	f        *Format
	classify bool
	noVars   bool
	cache    *uacache.Cache[UserAgent]
}

// DefaultUACacheSize is how many distinct user agents a Parser remembers
// before it starts over.
const DefaultUACacheSize = 8192

// NewParser returns a Parser for f that classifies user agents.
func (f *Format) NewParser() *Parser {
	return &Parser{f: f, classify: true, cache: uacache.New[UserAgent](DefaultUACacheSize)}
}

// SetClassifyUA turns user-agent classification on or off (off when no
// pipe asks for the classified fields).
func (p *Parser) SetClassifyUA(on bool) { p.classify = on }

// SetRecordVars turns filling Record.Vars on (the default) or off: the
// raw variables cost about a tenth of a parse and are needed only when a
// pipe asks for a var:NAME field.
func (p *Parser) SetRecordVars(on bool) { p.noVars = !on }

// Format returns the parser's format.
func (p *Parser) Format() *Format { return p.f }

// Parse parses line into r (see Format.Parse) and, when the line has a
// user agent, fills r.UA.
func (p *Parser) Parse(line []byte, r *Record) error {
	if err := p.f.parse(line, r, !p.noVars); err != nil {
		return err
	}
	if p.classify && r.Has&FieldUserAgent != 0 {
		r.UA = p.UserAgent(r.UserAgent)
	}
	return nil
}

// UserAgent classifies ua through the parser's cache.
func (p *Parser) UserAgent(ua []byte) UserAgent {
	var s string
	if len(ua) > 0 { // the cache copies the agents it keeps
		s = unsafe.String(&ua[0], len(ua))
	}
	return p.cache.Get(s, ClassifyUserAgent).Value
}
