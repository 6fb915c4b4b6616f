package collect

import (
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long after a change in a watched folder the configs are
// read again, so that a burst of writes is one reload.
const settle = 200 * time.Millisecond

// safetyRescan is how often the configs are checked even with a watch
// (events can be lost: a folder replaced, a network file system).
const safetyRescan = time.Minute

// watcher tells Run when a module config or module file changed, so an
// idle agent does not stat its configs every Rescan: that polling cost
// more CPU than collecting (bench:agent).
type watcher struct {
	w       *fsnotify.Watcher
	dirs    []string
	configs string
	files   []string
}

func newWatcher() *watcher {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return &watcher{}
	}
	return &watcher{w: w}
}

// sync watches the configs folder and the folders of files (from
// watched) and returns the next rescan interval: poll when a folder cannot
// be watched (it may not exist yet), else the safety interval.
func (w *watcher) sync(watched func() (string, []string), poll time.Duration) time.Duration {
	if w.w == nil {
		return poll
	}
	configs, files := watched()
	w.configs = filepath.Clean(configs)
	w.files = w.files[:0]
	want := []string{w.configs}
	for _, f := range files {
		w.files = append(w.files, filepath.Clean(f))
		want = append(want, filepath.Dir(filepath.Clean(f)))
	}
	slices.Sort(want)
	want = slices.Compact(want)
	for _, d := range w.dirs {
		if !slices.Contains(want, d) {
			w.w.Remove(d)
		}
	}
	ok := true
	for _, d := range want {
		if err := w.w.Add(d); err != nil {
			ok = false
		}
	}
	w.dirs = want
	if !ok {
		return poll
	}
	return max(poll, safetyRescan)
}

// relevant reports whether an event on name may need a reload: anything in
// the configs folder, or a module file in use.
func (w *watcher) relevant(name string) bool {
	name = filepath.Clean(name)
	return filepath.Dir(name) == w.configs || slices.Contains(w.files, name)
}

// events and errors are the watch's channels (nil without a watch: never
// ready). Errors must be read, or fsnotify stops delivering events.
func (w *watcher) events() <-chan fsnotify.Event {
	if w.w == nil {
		return nil
	}
	return w.w.Events
}

func (w *watcher) errors() <-chan error {
	if w.w == nil {
		return nil
	}
	return w.w.Errors
}

func (w *watcher) close() {
	if w.w != nil {
		w.w.Close()
	}
}
