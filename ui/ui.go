// Package ui serves canopy's web UI: the pages (/, /overview, /realtime/KEY,
// /realtime/view/NAME, /trend/view/, /trend/view/NAME, /setting/view), their
// built assets, and the saved-views API (/api/views).
//
// The assets are built with npm (`go tool -modfile=tools/go.mod task ui:build`, sources in src/)
// and committed in dist/, which this package embeds: running the daemon
// never needs node. Every page is the same HTML shell; the script picks the
// page from the URL, so the daemon needs no templates.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/auth"
	"github.com/canopy-dev/canopy/daemon/config"
)

//go:embed dist
var distFS embed.FS

// Options configures the UI.
type Options struct {
	// ViewsDir is the folder for saved views (DATA/views).
	ViewsDir string
	// Tokens are the configured auth tokens; when any are set, views are
	// kept per token name and /api/views needs a token.
	Tokens []config.Token
}

// UI serves the pages and the views API.
type UI struct {
	views *Views
	files map[string]asset
	index []byte
	users map[[32]byte]string // sha256(token) -> user
}

// New opens the views store and prepares the pages.
func New(opt Options) (*UI, error) {
	if opt.ViewsDir == "" {
		return nil, errors.New("ui: ViewsDir is empty")
	}
	vs, err := OpenViews(opt.ViewsDir)
	if err != nil {
		return nil, err
	}
	assets, err := fs.Sub(distFS, "dist")
	if err != nil {
		return nil, fmt.Errorf("ui: embedded assets: %w", err)
	}
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		return nil, fmt.Errorf("ui: embedded index.html: %w", err)
	}
	files, err := loadAssets(assets)
	if err != nil {
		return nil, fmt.Errorf("ui: embedded assets: %w", err)
	}
	u := &UI{views: vs, files: files, index: index, users: map[[32]byte]string{}}
	for i, t := range opt.Tokens {
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("token%d", i+1)
		}
		u.users[sha256.Sum256([]byte(t.Token))] = name
	}
	return u, nil
}

// Views returns the store, for subsystems that draw saved views (/graph).
func (u *UI) Views() *Views { return u.views }

// Routes registers the pages, the assets under /ui/ and /api/views.
func (u *UI) Routes(r gin.IRouter) {
	u.pageRoutes(r)
	r.GET("/api/views", u.listViews)
	r.POST("/api/views", u.createView)
	r.GET("/api/views/:name", u.getView)
	r.PUT("/api/views/:name", u.putView)
	r.DELETE("/api/views/:name", u.deleteView)
}

func (u *UI) pageRoutes(r gin.IRouter) {
	r.GET("/", u.page)
	r.GET("/realtime/*path", u.page) // /realtime/KEY and /realtime/view/NAME
	r.GET("/trend/view/*path", u.page)
	r.GET("/trend/view", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/trend/view/") })
	r.GET("/setting/view", u.page)
	r.GET("/overview", u.page)
	r.GET("/ui/*file", u.asset)
	r.HEAD("/ui/*file", u.asset)
}

// Wrap serves the pages and assets in front of next, before next's auth:
// a browser cannot send a bearer token when it navigates, and the pages hold
// no data (the script fetches it with the token the user saved). Every
// other request, /api/views included, goes to next.
func (u *UI) Wrap(next http.Handler) http.Handler {
	pages := gin.New()
	pages.Use(gin.Recovery())
	u.pageRoutes(pages)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && isPagePath(r.URL.Path) {
			pages.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isPagePath(p string) bool {
	return p == "/" || p == "/overview" || p == "/setting/view" || p == "/trend/view" || strings.HasPrefix(p, "/ui/") ||
		strings.HasPrefix(p, "/realtime/") || strings.HasPrefix(p, "/trend/view/")
}

// Security headers for the pages: everything comes from the daemon itself,
// so the policy can forbid every other origin.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

func (u *UI) page(c *gin.Context) {
	// /realtime/ and /realtime/view/ name nothing to show: the error page
	// (HTML for a browser) says so with a way back, instead of an empty page.
	if p := c.Request.URL.Path; p == "/realtime/" || p == "/realtime/view/" {
		api.AbortError(c, http.StatusNotFound, fmt.Sprintf("%s needs a key (/realtime/KEY) or a view name (/realtime/view/NAME)", p))
		return
	}
	pageHeaders(c.Writer.Header())
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", u.index)
}

func (u *UI) asset(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	a, ok := u.files[name]
	if !ok || name == "index.html" {
		// Only embedded files are served: a name is never a path on disk.
		api.AbortError(c, http.StatusNotFound, fmt.Sprintf("no UI file %q", name))
		return
	}
	pageHeaders(c.Writer.Header())
	// Names are not content-hashed: no-cache makes browsers revalidate, and
	// embedded files have no mod time, so the ETag is the validator.
	c.Header("Cache-Control", "no-cache")
	c.Header("ETag", a.etag)
	c.Header("Content-Type", a.ctype)
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(a.data))
}

type asset struct {
	data  []byte
	etag  string
	ctype string
}

func loadAssets(fsys fs.FS) (map[string]asset, error) {
	files := map[string]asset{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(data)
		}
		files[p] = asset{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		return nil
	})
	return files, err
}

// user returns the views owner for the request: "" when auth is off, the
// token's name when on. ok is false (and the response written) when auth is
// on and the token is missing or unknown.
func (u *UI) user(c *gin.Context) (string, bool) {
	if len(u.users) == 0 {
		return "", true
	}
	tok := auth.Token(c.Request)
	if tok == "" {
		api.AbortError(c, http.StatusUnauthorized, "views are kept per user: send Authorization: Bearer TOKEN (set it in /setting/view)")
		return "", false
	}
	name, ok := u.users[sha256.Sum256([]byte(tok))]
	if !ok {
		api.AbortError(c, http.StatusUnauthorized, "unknown token")
		return "", false
	}
	return name, true
}

// User returns the views owner for r ("" when auth is off), for other
// subsystems that read saved views; ok is false when auth is on and r has
// no known token.
func (u *UI) User(r *http.Request) (string, bool) {
	if len(u.users) == 0 {
		return "", true
	}
	tok := auth.Token(r)
	name, ok := u.users[sha256.Sum256([]byte(tok))]
	return name, ok && tok != ""
}

// viewError answers a views error: the client's mistakes are 4xx, the
// store's failures 500.
func viewError(c *gin.Context, err error) {
	code := http.StatusInternalServerError
	var invalid *InvalidViewError
	switch {
	case errors.As(err, &invalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrViewNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrViewExists):
		code = http.StatusConflict
	}
	api.AbortError(c, code, err.Error())
}

func (u *UI) listViews(c *gin.Context) {
	user, ok := u.user(c)
	if !ok {
		return
	}
	vs, err := u.views.List(user)
	if err != nil {
		viewError(c, err)
		return
	}
	if vs == nil {
		vs = []View{}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, vs)
}

func (u *UI) getView(c *gin.Context) {
	user, ok := u.user(c)
	if !ok {
		return
	}
	v, err := u.views.Get(user, c.Param("name"))
	if err != nil {
		viewError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

const maxViewBody = 64 << 10

func (u *UI) bindView(c *gin.Context) (View, bool) {
	var v View
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxViewBody)
	if err := c.ShouldBindJSON(&v); err != nil {
		api.AbortError(c, http.StatusBadRequest, "cannot parse view JSON: "+err.Error())
		return v, false
	}
	return v, true
}

func (u *UI) createView(c *gin.Context) {
	user, ok := u.user(c)
	if !ok {
		return
	}
	v, ok := u.bindView(c)
	if !ok {
		return
	}
	v, err := u.views.Put(user, v, true)
	if err != nil {
		viewError(c, err)
		return
	}
	c.JSON(http.StatusCreated, v)
}

func (u *UI) putView(c *gin.Context) {
	user, ok := u.user(c)
	if !ok {
		return
	}
	v, ok := u.bindView(c)
	if !ok {
		return
	}
	name := c.Param("name")
	if v.Name == "" {
		v.Name = name
	}
	if v.Name != name {
		api.AbortError(c, http.StatusBadRequest, fmt.Sprintf("view name %q in the body differs from %q in the URL", v.Name, name))
		return
	}
	v, err := u.views.Put(user, v, false)
	if err != nil {
		viewError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (u *UI) deleteView(c *gin.Context) {
	user, ok := u.user(c)
	if !ok {
		return
	}
	if err := u.views.Delete(user, c.Param("name")); err != nil {
		viewError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
