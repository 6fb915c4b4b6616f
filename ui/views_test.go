package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/canopy-dev/canopy/daemon/config"
)

func TestViewValidate(t *testing.T) {
	tests := []struct {
		name    string
		in      View
		wantErr string
		want    View
	}{
		{"defaults", View{Name: "web", Keys: []string{"br,ie"}}, "", View{Name: "web", Keys: []string{"br,ie"}, Chart: "line", Range: "-1d"}},
		{"trims and dedups keys", View{Name: "a.b-c_1", Keys: []string{" br ", "", "br", "cpu,*"}, Chart: "bar", Range: "-7d"}, "", View{Name: "a.b-c_1", Keys: []string{"br", "cpu,*"}, Chart: "bar", Range: "-7d"}},
		{"empty name", View{Keys: []string{"br"}}, "view name", View{}},
		{"slash in name", View{Name: "a/b", Keys: []string{"br"}}, "view name", View{}},
		{"leading dot", View{Name: ".x", Keys: []string{"br"}}, "view name", View{}},
		{"no keys", View{Name: "x", Keys: []string{" ", ""}}, "no keys", View{}},
		{"bad chart", View{Name: "x", Keys: []string{"br"}, Chart: "pie"}, "chart", View{}},
		{"bad range", View{Name: "x", Keys: []string{"br"}, Range: "yesterday"}, "range", View{}},
		{"too many keys", View{Name: "x", Keys: manyKeys(maxViewKeys + 1)}, "at most", View{}},
		{"long key", View{Name: "x", Keys: []string{strings.Repeat("a", maxViewKeyLen+1)}}, "longer", View{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.in
			err := v.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() error = %v", err)
			}
			if v.Name != tc.want.Name || strings.Join(v.Keys, "|") != strings.Join(tc.want.Keys, "|") || v.Chart != tc.want.Chart || v.Range != tc.want.Range {
				t.Errorf("Validate() = %+v, want %+v", v, tc.want)
			}
		})
	}
}

func manyKeys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = "k" + strings.Repeat("x", i)
	}
	return ks
}

func TestViewsStorePersists(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenViews(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []View{{Name: "b", Keys: []string{"br"}}, {Name: "a", Keys: []string{"cpu"}}} {
		if _, err := s.Put("", v, true); err != nil {
			t.Fatalf("Put(%s): %v", v.Name, err)
		}
	}
	if _, err := s.Put("", View{Name: "a", Keys: []string{"x"}}, true); !errors.Is(err, ErrViewExists) {
		t.Errorf("creating a taken name: err = %v, want ErrViewExists", err)
	}
	if _, err := s.Put("", View{Name: "a", Keys: []string{"cpu,**"}, Chart: "area"}, false); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if _, err := s.Put("alice", View{Name: "mine", Keys: []string{"br"}}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("", "b"); !errors.Is(err, ErrViewNotFound) {
		t.Errorf("deleting twice: err = %v, want ErrViewNotFound", err)
	}

	// A new store on the same folder reads what the first one wrote.
	s2, err := OpenViews(dir)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := s2.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(shared) != 1 || shared[0].Name != "a" || shared[0].Chart != "area" || shared[0].Keys[0] != "cpu,**" {
		t.Errorf("shared views after reopen = %+v, want only a (area, cpu,**)", shared)
	}
	if _, err := s2.Get("", "mine"); !errors.Is(err, ErrViewNotFound) {
		t.Errorf("alice's view is visible to the shared user: err = %v", err)
	}
	if v, err := s2.Get("alice", "mine"); err != nil || v.Keys[0] != "br" {
		t.Errorf("Get(alice, mine) = %+v, %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "user-alice.json")); err != nil {
		t.Errorf("per-user file: %v", err)
	}
	// No temp files are left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("left a temp file: %s", e.Name())
		}
	}
}

func TestViewsStoreCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shared.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenViews(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(""); err == nil || !strings.Contains(err.Error(), "shared.json") {
		t.Errorf("List on a corrupt file: err = %v, want one naming the file", err)
	}
	// A corrupt file is never overwritten by a save.
	if _, err := s.Put("", View{Name: "x", Keys: []string{"br"}}, true); err == nil {
		t.Errorf("Put over a corrupt file succeeded")
	}
}

func newTestUI(t *testing.T, tokens []config.Token) (*UI, http.Handler) {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	u, err := New(Options{ViewsDir: t.TempDir(), Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	u.Routes(r)
	return u, r
}

func call(t *testing.T, h http.Handler, method, path, body, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func TestViewsAPI(t *testing.T) {
	_, h := newTestUI(t, nil)
	steps := []struct {
		method, path, body string
		wantCode           int
		wantBody           string
	}{
		{"GET", "/api/views", "", 200, "[]"},
		{"POST", "/api/views", `{"name":"web","keys":["br,ie","br,webkit"],"chart":"bar","range":"-7d"}`, 201, `"chart":"bar"`},
		{"POST", "/api/views", `{"name":"web","keys":["x"]}`, 409, "already exists"},
		{"POST", "/api/views", `{"name":"bad name","keys":["x"]}`, 400, "view name"},
		{"POST", "/api/views", `{"name":`, 400, "cannot parse"},
		{"GET", "/api/views/web", "", 200, `"keys":["br,ie","br,webkit"]`},
		{"GET", "/api/views/nope", "", 404, "not found"},
		{"PUT", "/api/views/web", `{"keys":["cpu"]}`, 200, `"keys":["cpu"]`},
		{"PUT", "/api/views/web", `{"name":"other","keys":["cpu"]}`, 400, "differs"},
		{"PUT", "/api/views/new", `{"keys":["cpu"],"range":"-1y"}`, 200, `"range":"-1y"`},
		{"GET", "/api/views", "", 200, `"name":"new"`},
		{"DELETE", "/api/views/web", "", 204, ""},
		{"DELETE", "/api/views/web", "", 404, "not found"},
	}
	for _, s := range steps {
		code, body := call(t, h, s.method, s.path, s.body, "")
		if code != s.wantCode || !strings.Contains(body, s.wantBody) {
			t.Errorf("%s %s %s = %d %s, want %d containing %q", s.method, s.path, s.body, code, body, s.wantCode, s.wantBody)
		}
	}
	_, body := call(t, h, "GET", "/api/views", "", "")
	var vs []View
	if err := json.Unmarshal([]byte(body), &vs); err != nil || len(vs) != 1 || vs[0].Name != "new" {
		t.Errorf("final list = %s (%v), want only view new", body, err)
	}
}

func TestViewsPerUser(t *testing.T) {
	u, h := newTestUI(t, []config.Token{
		{Name: "alice", Token: "ta", Scopes: []string{"read", "write"}},
		{Name: "bob", Token: "tb", Scopes: []string{"read", "write"}},
	})
	tests := []struct {
		name, method, path, body, token string
		wantCode                        int
	}{
		{"no token", "GET", "/api/views", "", "", 401},
		{"unknown token", "GET", "/api/views", "", "nope", 401},
		{"alice creates", "POST", "/api/views", `{"name":"v","keys":["br"]}`, "ta", 201},
		{"alice reads", "GET", "/api/views/v", "", "ta", 200},
		{"bob cannot see it", "GET", "/api/views/v", "", "tb", 404},
		{"bob has his own v", "POST", "/api/views", `{"name":"v","keys":["cpu"]}`, "tb", 201},
	}
	for _, tc := range tests {
		if code, body := call(t, h, tc.method, tc.path, tc.body, tc.token); code != tc.wantCode {
			t.Errorf("%s: %s %s = %d %s, want %d", tc.name, tc.method, tc.path, code, body, tc.wantCode)
		}
	}
	a, _ := u.Views().Get("alice", "v")
	b, _ := u.Views().Get("bob", "v")
	if a.Keys[0] != "br" || b.Keys[0] != "cpu" {
		t.Errorf("alice's v = %v, bob's v = %v; want br and cpu", a.Keys, b.Keys)
	}
	req := httptest.NewRequest("GET", "/graph/v.png?access_token=tb", nil)
	if user, ok := u.User(req); !ok || user != "bob" {
		t.Errorf("User(access_token=tb) = %q, %v; want bob", user, ok)
	}
}

func TestPagesAndAssets(t *testing.T) {
	u, _ := newTestUI(t, []config.Token{{Name: "a", Token: "t", Scopes: []string{"read"}}})
	// Behind Wrap the pages need no token, everything else goes through.
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "next", http.StatusTeapot) })
	h := u.Wrap(next)
	tests := []struct {
		path     string
		wantCode int
		wantType string
	}{
		{"/", 200, "text/html"},
		{"/realtime/br,ie", 200, "text/html"},
		{"/realtime/view/web", 200, "text/html"},
		{"/trend/view/", 200, "text/html"},
		{"/trend/view/web", 200, "text/html"},
		{"/trend/view", 301, ""},
		{"/setting/view", 200, "text/html"},
		{"/ui/app.js", 200, "text/javascript"},
		{"/ui/app.css", 200, "text/css"},
		{"/ui/nope.js", 404, ""},
		{"/ui/", 404, ""},
		{"/api/views", http.StatusTeapot, ""},
		{"/trend/br", http.StatusTeapot, ""},
		{"/get/br", http.StatusTeapot, ""},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", tc.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.wantCode || !strings.HasPrefix(w.Header().Get("Content-Type"), tc.wantType) {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, w.Code, w.Header().Get("Content-Type"), tc.wantCode, tc.wantType)
		}
	}
	// Assets revalidate with their ETag.
	req := httptest.NewRequest("GET", "/ui/app.js", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	req = httptest.NewRequest("GET", "/ui/app.js", nil)
	req.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w2 := httptest.NewRecorder()
	h.ServeHTTP(w2, req)
	if w2.Code != http.StatusNotModified {
		t.Errorf("GET /ui/app.js with its ETag = %d, want 304", w2.Code)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
}
