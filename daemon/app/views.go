package app

import (
	"errors"
	"net/http"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/graph"
	"github.com/canopy-dev/canopy/ui"
)

// graphViews lets /graph/NAME draw a view saved in the web UI by the
// request's user; a name that is no view of theirs is read as a key.
func graphViews(u *ui.UI) api.ViewSource {
	return api.ViewFunc(func(r *http.Request, name string) (graph.View, bool, error) {
		user, ok := u.User(r)
		if !ok {
			return graph.View{}, false, nil
		}
		v, err := u.Views().Get(user, name)
		switch {
		case errors.Is(err, ui.ErrViewNotFound):
			return graph.View{}, false, nil
		case err != nil:
			return graph.View{}, false, err
		}
		typ, _ := graph.ParseType(v.Chart) // the UI validated it
		return graph.View{Keys: v.Keys, Type: typ, From: v.Range}, true, nil
	})
}
