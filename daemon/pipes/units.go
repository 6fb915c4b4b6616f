package pipes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// UnitsSuffix names a pipe's units file: NAME.units.json beside
// NAME.wasm (in the pipes folder, or embedded with the built-ins) maps
// keys the pipe writes to the unit of their numbers, {"bytes": "B",
// "reqtime": "s", "reqtime,le": "req"}; a key's unit rules its subtree
// unless a deeper key declares another. Units are metadata for readers
// (the API's /trend unit, the UI's axes), kept outside the .wasm so that
// declaring them changes neither the pipe ABI nor the module.
const UnitsSuffix = ".units.json"

// maxUnitsFile bounds a units file (a few dozen keys in practice).
const maxUnitsFile = 1 << 20

// unitDecl is one declared unit.
type unitDecl struct {
	path []string
	unit string
}

// readUnits reads the units file of the pipe file name (NAME.wasm) from
// the built-ins or the folder; a pipe without one declares none.
func (m *Manager) readUnits(c candidate) ([]byte, error) {
	name := strings.TrimSuffix(c.name, ".wasm") + UnitsSuffix
	var data []byte
	var err error
	if c.origin == OriginBuiltin {
		data, err = fs.ReadFile(m.opt.Builtins, name)
	} else {
		name = filepath.Join(filepath.Dir(c.origin), name)
		var info os.FileInfo
		if info, err = os.Stat(name); err == nil && (!info.Mode().IsRegular() || info.Size() > maxUnitsFile) {
			return nil, fmt.Errorf("units file %q: want a regular file of at most %d bytes", name, maxUnitsFile)
		}
		if err == nil {
			data, err = os.ReadFile(name)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read units file %q: %w", name, err)
	}
	return data, nil
}

// parseUnits checks a units file against the pipe's manifest: every key
// must lie under one of its roots (a pipe labels only its own numbers).
func parseUnits(data []byte, man *pipeabi.Manifest) ([]unitDecl, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("units file: want an object of key to unit: %w", err)
	}
	out := make([]unitDecl, 0, len(m))
	for k, u := range m {
		path, err := key.Split(k)
		if err != nil || len(path) == 0 || slices.Contains(path, "") {
			return nil, fmt.Errorf("units file: bad key %q", k)
		}
		if man.RootFor(path) < 0 {
			return nil, fmt.Errorf("units file: key %q is under none of the pipe's roots", k)
		}
		if u == "" || len(u) > tree.MaxUnitBytes {
			return nil, fmt.Errorf("units file: %q: unit %q, want 1 to %d bytes", k, u, tree.MaxUnitBytes)
		}
		out = append(out, unitDecl{path, u})
	}
	// Shallow first, so the tree sees them in a stable order.
	sort.Slice(out, func(i, j int) bool { return key.Join(out[i].path) < key.Join(out[j].path) })
	return out, nil
}

// setUnits declares l's units in the tree under prefix.
func (m *Manager) setUnits(l *loaded, prefix []string) error {
	for _, u := range l.units {
		p := append(slices.Clip(prefix), u.path...)
		if err := m.opt.Tree.SetUnit(p, u.unit); err != nil {
			return fmt.Errorf("pipe %s: cannot set the unit of %q: %w", l.p.Name(), key.Join(p), err)
		}
	}
	return nil
}
