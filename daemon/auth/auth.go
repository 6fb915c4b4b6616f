// Package auth checks the bearer tokens of the `tokens` config section,
// for HTTP requests (daemon/api, the relay, the UI) and push sockets
// (daemon/listen), and holds the one place a request's token is read from.
package auth

import (
	"crypto/sha256"
	"net"
	"net/http"
	"strings"

	"github.com/canopy-dev/canopy/daemon/config"
)

// Checker checks bearer tokens against the configured ones. With no tokens
// configured everything is allowed (the daemon listens on 127.0.0.1 by
// default). A nil *Checker allows everything.
type Checker struct {
	// Tokens are looked up by their SHA-256 so the lookup time does not
	// depend on how much of a guessed token is right.
	tokens map[[32]byte]grant
}

type grant struct {
	name        string
	read, write bool
}

// New builds the checker for the `tokens` config section.
func New(tokens []config.Token) *Checker {
	a := &Checker{tokens: map[[32]byte]grant{}}
	for _, t := range tokens {
		g := grant{name: t.Name}
		for _, s := range t.Scopes {
			switch s {
			case "read":
				g.read = true
			case "write":
				g.write = true
			}
		}
		h := sha256.Sum256([]byte(t.Token))
		old := a.tokens[h]
		g.read, g.write = g.read || old.read, g.write || old.write
		a.tokens[h] = g
	}
	return a
}

// Enabled reports whether tokens are configured.
func (a *Checker) Enabled() bool { return a != nil && len(a.tokens) > 0 }

// Error says why a request was refused; Code is the HTTP status.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Check returns nil when token may read (write false) or write (write
// true), or why not.
func (a *Checker) Check(token string, write bool) *Error {
	if !a.Enabled() {
		return nil
	}
	scope := "read"
	if write {
		scope = "write"
	}
	if token == "" {
		return &Error{http.StatusUnauthorized, "this request needs a token with " + scope + " scope: send Authorization: Bearer TOKEN"}
	}
	g, ok := a.tokens[sha256.Sum256([]byte(token))]
	if !ok {
		return &Error{http.StatusUnauthorized, "unknown token"}
	}
	if write && !g.write || !write && !g.read {
		return &Error{http.StatusForbidden, "token " + quoteName(g.name) + " has no " + scope + " scope"}
	}
	return nil
}

// CheckPeer is Check for socket pushes: peers on loopback are trusted, others
// need a write token.
func (a *Checker) CheckPeer(addr net.Addr, token string) *Error {
	if !a.Enabled() || IsLoopback(addr) {
		return nil
	}
	return a.Check(token, true)
}

// IsLoopback reports whether addr is a loopback IP (or a Unix socket).
func IsLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return a.IP.IsLoopback()
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	case nil:
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func quoteName(n string) string {
	if n == "" {
		return "(unnamed)"
	}
	return "\"" + n + "\""
}

// Token returns the request's token: the Authorization header's bearer
// token, or the access_token query parameter (RFC 6750 §2.3) for clients
// that cannot set headers, such as a browser's EventSource. A request
// whose Authorization header is not a bearer token has none.
func Token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}

// CheckRequest checks a request's token (Authorization: Bearer, or
// ?access_token=) against the scope its method needs: GET, HEAD and
// OPTIONS read, everything else writes.
func (a *Checker) CheckRequest(r *http.Request) *Error {
	write := true
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		write = false
	}
	return a.Check(Token(r), write)
}
