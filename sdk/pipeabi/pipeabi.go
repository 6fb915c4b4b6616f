// Package pipeabi is the versioned contract between canopy and a WASM pipe:
// the exported functions, the manifest, and the compact binary encodings of
// records (host → pipe) and deltas (pipe → host). README.md in this folder is
// the normative spec; this package is its Go implementation, shared by the
// guest SDK (sdk/pipe, compiled to wasip1) and the host (sdk/host). The
// primitives, the result convention and the exports canopy_api_version and
// canopy_alloc are sdk/wire's, shared with the collector ABI.
package pipeabi

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/canopy-dev/canopy/sdk/wire"
)

// Version is the ABI version a pipe reports through the export
// canopy_api_version. The host refuses a pipe with any other value.
// Version 2 made record batches column-major (version 1 sent records one
// after another).
const Version = 2

// Names of the functions a pipe exports (see README.md for signatures);
// wire.ExportAPIVersion and wire.ExportAlloc complete the list.
const (
	ExportManifest = "canopy_manifest"
	ExportInit     = "canopy_init"
	ExportProcess  = "canopy_process"
	ExportTick     = "canopy_tick" // optional
	ExportCleanup  = "canopy_cleanup"
)

// Action says how a number merges into the tree. The numbering is that of
// daemon/tree.Action (add, average, max, min, last).
type Action uint8

// The merge actions.
const (
	ActionAdd Action = iota
	ActionAverage
	ActionMax
	ActionMin
	ActionLast
	numActions
)

var actionNames = [...]string{"add", "average", "max", "min", "last"}

// String returns the defaultaction spelling of a.
func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// ParseAction parses a defaultaction name.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("unknown defaultaction %q (want add, average, max, min or last)", s)
}

// Manifest describes a pipe: what it is, which record fields it needs and
// which tree roots it writes. The host sends a pipe only the fields listed,
// in that order, and rejects deltas outside the declared roots.
type Manifest struct {
	Name    string
	Version string
	// Fields are names from the field enumeration (FieldTime, …) or
	// "var:NAME" for the raw text of a log_format variable $NAME.
	Fields []string
	// Roots are the subtrees the pipe writes, each with its defaultaction.
	// A root may be deeper than one level; the longest matching root rules a
	// delta's path.
	Roots []Root
	// Serial asks for a single instance that sees every line (the host runs
	// the batches through it one at a time), for state that cannot be split
	// across instances and merged by the tree, like a distinct-count
	// sketch. Encoded as an optional trailing flags byte (bit 0).
	Serial bool
}

// Manifest flag bits (the optional trailing byte).
const manifestSerial = 1

// Root is one subtree a pipe writes.
type Root struct {
	Path   []string
	Action Action
}

// Validate checks a manifest as the host sees it.
func (m *Manifest) Validate() error {
	if m.Name == "" {
		return errors.New("manifest has an empty name")
	}
	if len(m.Roots) == 0 {
		return fmt.Errorf("pipe %q declares no tree roots", m.Name)
	}
	if _, err := NewLayout(m.Fields); err != nil {
		return fmt.Errorf("pipe %q: %w", m.Name, err)
	}
	for i, r := range m.Roots {
		if err := validPath(r.Path); err != nil {
			return fmt.Errorf("pipe %q: root %d: %w", m.Name, i, err)
		}
		if r.Action >= numActions {
			return fmt.Errorf("pipe %q: root %d: unknown action %d", m.Name, i, r.Action)
		}
	}
	return nil
}

// RootFor returns the index of the longest root that is a prefix of path,
// or -1.
func (m *Manifest) RootFor(path []string) int {
	best, bestLen := -1, -1
	for i, r := range m.Roots {
		if len(r.Path) > len(path) || len(r.Path) <= bestLen {
			continue
		}
		ok := true
		for j, s := range r.Path {
			if path[j] != s {
				ok = false
				break
			}
		}
		if ok {
			best, bestLen = i, len(r.Path)
		}
	}
	return best
}

func validPath(p []string) error {
	if len(p) == 0 {
		return errors.New("empty path")
	}
	if len(p) > wire.MaxPathSegments {
		return fmt.Errorf("path has %d segments (max %d)", len(p), wire.MaxPathSegments)
	}
	for _, s := range p {
		if s == "" {
			return errors.New("path has an empty segment")
		}
		if len(s) > wire.MaxSegmentBytes {
			return fmt.Errorf("path segment of %d bytes (max %d)", len(s), wire.MaxSegmentBytes)
		}
	}
	return nil
}

// AppendManifest appends the manifest encoding of m to dst.
func AppendManifest(dst []byte, m *Manifest) []byte {
	dst = wire.AppendString(dst, m.Name)
	dst = wire.AppendString(dst, m.Version)
	dst = wire.AppendU32(dst, uint32(len(m.Fields)))
	for _, f := range m.Fields {
		dst = wire.AppendString(dst, f)
	}
	dst = wire.AppendU32(dst, uint32(len(m.Roots)))
	for _, r := range m.Roots {
		dst = wire.AppendPath(dst, r.Path...)
		dst = append(dst, byte(r.Action))
	}
	if m.Serial { // only then: older manifests stay byte-identical
		dst = append(dst, manifestSerial)
	}
	return dst
}

// DecodeManifest decodes and validates a manifest. Strings are copied.
func DecodeManifest(b []byte) (*Manifest, error) {
	d := wire.Decoder{B: b}
	m := &Manifest{Name: wire.Clone(d.String()), Version: wire.Clone(d.String())}
	n := d.Count(4)
	for i := 0; i < n && d.Err == nil; i++ {
		m.Fields = append(m.Fields, wire.Clone(d.String()))
	}
	n = d.Count(2)
	for i := 0; i < n && d.Err == nil; i++ {
		p := d.Path(nil)
		for j := range p {
			p[j] = wire.Clone(p[j])
		}
		m.Roots = append(m.Roots, Root{Path: p, Action: Action(d.U8())})
	}
	if d.Err == nil && d.Off < len(b) {
		flags := d.U8()
		if flags&^manifestSerial != 0 {
			return nil, fmt.Errorf("malformed manifest: unknown flags %#x", flags)
		}
		m.Serial = flags&manifestSerial != 0
	}
	if d.Err != nil {
		return nil, fmt.Errorf("malformed manifest: %w", d.Err)
	}
	if d.Off != len(b) {
		return nil, fmt.Errorf("malformed manifest: %d trailing bytes", len(b)-d.Off)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
