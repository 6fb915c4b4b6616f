package app

import (
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/graph"
	"github.com/canopy-dev/canopy/ui"
)

// TestGraphViews: /graph/NAME finds the views the request's user saved in
// the UI, and nobody else's.
func TestGraphViews(t *testing.T) {
	u, err := ui.New(ui.Options{ViewsDir: t.TempDir(), Tokens: []config.Token{
		{Name: "alice", Token: "ta", Scopes: []string{"read"}},
		{Name: "bob", Token: "tb", Scopes: []string{"read"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Views().Put("alice", ui.View{Name: "web", Keys: []string{"br,*", "os,*"}, Chart: "area", Range: "-7d"}, true); err != nil {
		t.Fatal(err)
	}
	views := graphViews(u)
	tests := []struct {
		name, target string
		ok           bool
	}{
		{"web", "/graph/web.png?access_token=ta", true},
		{"web", "/graph/web.png?access_token=tb", false}, // bob has no view "web"
		{"web", "/graph/web.png", false},                 // no token: NAME is a key
		{"other", "/graph/other.png?access_token=ta", false},
	}
	for _, tc := range tests {
		v, ok, err := views.GraphView(httptest.NewRequest("GET", tc.target, nil), tc.name)
		if err != nil || ok != tc.ok {
			t.Errorf("%s: ok=%v err=%v, want ok=%v", tc.target, ok, err, tc.ok)
			continue
		}
		if ok && (!slices.Equal(v.Keys, []string{"br,*", "os,*"}) || v.Type != graph.TypeArea || v.From != "-7d") {
			t.Errorf("%s: view %+v", tc.target, v)
		}
	}
}
