package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// View is a saved set of keys shown together on /realtime/view/NAME,
// /trend/view/NAME and /graph/NAME.
type View struct {
	Name  string   `json:"name"`
	Keys  []string `json:"keys"`
	Chart string   `json:"chart"` // line | area | bar
	Range string   `json:"range"` // relative trend time, e.g. -1d
	// Updated is when the view was last saved (set by the store).
	Updated time.Time `json:"updated"`
}

var (
	viewNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	viewRangeRE = regexp.MustCompile(`^-[1-9][0-9]{0,4}[smhdwy]$`)
)

// Limits that keep one views file small.
const (
	maxViewKeys   = 64
	maxViewKeyLen = 512
	maxViews      = 500
)

// Validate checks v and fills defaults (chart line, range -1d).
func (v *View) Validate() error {
	if !viewNameRE.MatchString(v.Name) {
		return invalidView("view name %q: want 1-64 letters, digits, '.', '-' or '_', starting with a letter or digit", v.Name)
	}
	keys := v.Keys[:0:0]
	for _, k := range v.Keys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if len(k) > maxViewKeyLen {
			return invalidView("view %q: key longer than %d bytes", v.Name, maxViewKeyLen)
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return invalidView("view %q has no keys", v.Name)
	}
	if len(keys) > maxViewKeys {
		return invalidView("view %q has %d keys (at most %d)", v.Name, len(keys), maxViewKeys)
	}
	v.Keys = keys
	switch v.Chart {
	case "":
		v.Chart = "line"
	case "line", "area", "bar":
	default:
		return invalidView("view %q: chart %q: want line, area or bar", v.Name, v.Chart)
	}
	if v.Range == "" {
		v.Range = "-1d"
	} else if !viewRangeRE.MatchString(v.Range) {
		return invalidView("view %q: range %q: want a relative time such as -1h, -7d or -1y", v.Name, v.Range)
	}
	return nil
}

// InvalidViewError is a view that Validate refuses.
type InvalidViewError struct{ Msg string }

func (e *InvalidViewError) Error() string { return e.Msg }

func invalidView(format string, args ...any) error {
	return &InvalidViewError{Msg: fmt.Sprintf(format, args...)}
}

// ErrViewNotFound is returned for a view that does not exist.
var ErrViewNotFound = errors.New("view not found")

// ErrViewExists is returned when creating a view whose name is taken.
var ErrViewExists = errors.New("view already exists")

// Views stores saved views as JSON files in a folder: shared.json when auth
// is off, one user-NAME.json per token name when it is on. Files are small
// and rewritten whole, atomically, on every change.
type Views struct {
	dir   string
	mu    sync.Mutex
	cache map[string][]View // user -> views sorted by name
}

// OpenViews opens (and creates) the views folder.
func OpenViews(dir string) (*Views, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create views folder %q: %w", dir, err)
	}
	return &Views{dir: dir, cache: map[string][]View{}}, nil
}

func (s *Views) file(user string) string {
	if user == "" {
		return filepath.Join(s.dir, "shared.json")
	}
	return filepath.Join(s.dir, "user-"+url.PathEscape(user)+".json")
}

// load returns user's views, reading the file once. Callers hold mu.
func (s *Views) load(user string) ([]View, error) {
	if vs, ok := s.cache[user]; ok {
		return vs, nil
	}
	var vs []View
	data, err := os.ReadFile(s.file(user))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("cannot read views: %w", err)
	default:
		if err := json.Unmarshal(data, &vs); err != nil {
			return nil, fmt.Errorf("cannot parse views file %q: %w", s.file(user), err)
		}
	}
	slices.SortFunc(vs, func(a, b View) int { return strings.Compare(a.Name, b.Name) })
	s.cache[user] = vs
	return vs, nil
}

func (s *Views) store(user string, vs []View) error {
	data, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		return err
	}
	path := s.file(user)
	tmp, err := os.CreateTemp(s.dir, ".views-*.tmp")
	if err != nil {
		return fmt.Errorf("cannot save views: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot save views to %q: %w", path, err)
	}
	s.cache[user] = vs
	return nil
}

// List returns user's views sorted by name.
func (s *Views) List(user string) ([]View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, err := s.load(user)
	return slices.Clone(vs), err
}

// Get returns user's view name.
func (s *Views) Get(user, name string) (View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, err := s.load(user)
	if err != nil {
		return View{}, err
	}
	i, ok := slices.BinarySearchFunc(vs, name, func(v View, n string) int { return strings.Compare(v.Name, n) })
	if !ok {
		return View{}, fmt.Errorf("view %q: %w", name, ErrViewNotFound)
	}
	return vs[i], nil
}

// Put validates and saves v for user. With create set, an existing view of
// the same name is an ErrViewExists; otherwise it is replaced.
func (s *Views) Put(user string, v View, create bool) (View, error) {
	if err := v.Validate(); err != nil {
		return View{}, err
	}
	v.Updated = time.Now().UTC().Truncate(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, err := s.load(user)
	if err != nil {
		return View{}, err
	}
	vs = slices.Clone(vs)
	i, ok := slices.BinarySearchFunc(vs, v.Name, func(x View, n string) int { return strings.Compare(x.Name, n) })
	switch {
	case ok && create:
		return View{}, fmt.Errorf("view %q: %w", v.Name, ErrViewExists)
	case ok:
		vs[i] = v
	default:
		if len(vs) >= maxViews {
			return View{}, fmt.Errorf("cannot add view %q: at most %d views", v.Name, maxViews)
		}
		vs = slices.Insert(vs, i, v)
	}
	return v, s.store(user, vs)
}

// Delete removes user's view name.
func (s *Views) Delete(user, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, err := s.load(user)
	if err != nil {
		return err
	}
	i, ok := slices.BinarySearchFunc(vs, name, func(v View, n string) int { return strings.Compare(v.Name, n) })
	if !ok {
		return fmt.Errorf("view %q: %w", name, ErrViewNotFound)
	}
	return s.store(user, slices.Delete(slices.Clone(vs), i, i+1))
}
