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

// errorPage looks like the UI's pages (ui/src/app.css: the same colours,
// header and card) so an error does not look like another application's,
// in the theme the user chose there (kept in localStorage) or the
// system's; inline, since it must not depend on the UI's assets being
// served. The ways back are plain links: they work without JavaScript.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Code}} {{.Status}} · canopy</title>
<link rel="icon" href="data:,">
<script>try { var t = localStorage.getItem('canopy.theme'); if (t === 'dark' || t === 'light') document.documentElement.dataset.theme = t; } catch (e) {}</script>
<style>
:root { --bg: #f6f7f9; --card: #ffffff; --fg: #1d2330; --muted: #5d6675; --line: #d9dde4; --accent: #1f6fd1; --err: #b3261e; color-scheme: light; }
@media (prefers-color-scheme: dark) {
  :root:not([data-theme="light"]) { --bg: #12151b; --card: #1b2029; --fg: #e4e7ec; --muted: #9aa3b2; --line: #2d3440; --accent: #5aa2ff; --err: #ff8a80; color-scheme: dark; }
}
:root[data-theme="dark"] { --bg: #12151b; --card: #1b2029; --fg: #e4e7ec; --muted: #9aa3b2; --line: #2d3440; --accent: #5aa2ff; --err: #ff8a80; color-scheme: dark; }
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); }
header.top { display: flex; align-items: center; gap: 1rem; padding: .5rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header.top .brand { font-weight: 700; font-size: 1.1rem; text-decoration: none; color: var(--fg); }
header.top nav { display: flex; gap: .8rem; flex-wrap: wrap; }
header.top nav a { text-decoration: none; padding: .2rem .1rem; }
main { padding: 1rem; max-width: 1600px; margin: 0 auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8rem; max-width: 44rem; }
h1 { font-size: 1.4rem; margin: .2rem 0 .6rem; color: var(--err); }
p.msg { padding: .5rem .7rem; border-radius: 6px; border: 1px solid var(--err); color: var(--err); font-family: ui-monospace, monospace; word-break: break-all; margin: .4rem 0; }
.hint { color: var(--muted); }
ul.links { padding-left: 1.1rem; margin: .4rem 0 0; }
ul.links li { margin: .25rem 0; }
</style>
</head>
<body>
<header class="top"><a class="brand" href="/">canopy</a>
<nav aria-label="Main"><a href="/">Home</a> <a href="/trend/view/">Trend explorer</a> <a href="/setting/view">Views</a></nav></header>
<main>
<section class="card">
<h1>{{.Code}} {{.Status}}</h1>
<p class="msg" role="alert">{{.Msg}}</p>
<p class="hint">{{if eq .Code 404}}Nothing is served at this address.{{else}}The request could not be answered as written.{{end}} Scripts get this error as JSON ({"error": "…"}) when they do not ask for HTML.</p>
<ul class="links">
<li><a class="back" href="/">Back to canopy</a> (the home page)</li>
<li><a href="/trend/view/">Trend explorer</a>: find a key in the tree</li>
</ul>
</section>
</main>
</body>
</html>
`))
