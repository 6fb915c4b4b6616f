package api

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"
)

// AbortError ends a request with an error: an HTML page for browsers
// (Accept names text/html before anything JSON), so a mistyped URL or a
// bad link leaves a way back to the UI, and {"error": msg} for every other
// client, which is what scripts and the UI's fetches parse.
func AbortError(c *gin.Context, code int, msg string) {
	if !wantsHTML(c) {
		c.AbortWithStatusJSON(code, gin.H{"error": msg})
		return
	}
	var b bytes.Buffer
	// The template is fixed and its data plain strings: it cannot fail.
	_ = errorPage.Execute(&b, struct {
		Code        int
		Status, Msg string
	}{code, http.StatusText(code), msg})
	c.Data(code, "text/html; charset=utf-8", b.Bytes())
	c.Abort()
}

// wantsHTML reports whether the client prefers HTML to JSON. Without an
// Accept header, or with */*, JSON is offered first and wins.
func wantsHTML(c *gin.Context) bool {
	return c.NegotiateFormat(gin.MIMEJSON, gin.MIMEHTML) == gin.MIMEHTML
}

// errorPage takes the UI's colours (ui/src/app.css) so an error does not
// look like another application's; inline, since it must not depend on
// the UI's assets being served.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Code}} {{.Status}} · canopy</title>
<style>
:root { --bg: #f6f7f9; --card: #ffffff; --fg: #1d2330; --muted: #5d6675; --line: #d9dde4; --accent: #1f6fd1; --err: #b3261e; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #12151b; --card: #1b2029; --fg: #e4e7ec; --muted: #9aa3b2; --line: #2d3440; --accent: #5aa2ff; --err: #ff8a80; }
}
html, body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: var(--card); }
header a { font-weight: 700; font-size: 1.1rem; text-decoration: none; color: var(--fg); }
main { max-width: 40rem; margin: 2rem auto; padding: 1.2rem 1.4rem; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
h1 { margin: 0 0 .6rem; font-size: 1.3rem; color: var(--err); }
p.msg { font-family: ui-monospace, monospace; word-break: break-all; color: var(--muted); }
a.back { color: var(--accent); }
</style>
</head>
<body>
<header><a href="/">canopy</a></header>
<main>
<h1>{{.Code}} {{.Status}}</h1>
<p class="msg">{{.Msg}}</p>
<p><a class="back" href="/">Back to canopy</a></p>
</main>
</body>
</html>
`))
