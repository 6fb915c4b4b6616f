package pipes

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// TestUnitsFile: NAME.units.json beside NAME.wasm (built-in or in the
// folder) declares the units of the pipe's keys in the tree, under every
// source prefix too; a file naming a key outside the pipe's roots fails
// the pipe's load.
func TestUnitsFile(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "counter.wasm")
	if err := pipetest.BuildWASM("testdata/counter", bin); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	builtins := fstest.MapFS{
		"counter.wasm":       {Data: wasm},
		"counter.units.json": {Data: []byte(`{"lines": "req", "lines,ticks": "ticks"}`)},
		"bad.wasm":           {Data: wasm},
		"bad.units.json":     {Data: []byte(`{"bytes": "B"}`)},
		"junk.wasm":          {Data: wasm},
		"junk.units.json":    {Data: []byte(`["B"]`)},
	}
	dir := t.TempDir()
	copyFile(t, bin, filepath.Join(dir, "folder.wasm"))
	if err := os.WriteFile(filepath.Join(dir, "folder.units.json"), []byte(`{"lines,total": "lines"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := tree.New()
	m, err := New(Options{Dir: dir, Builtins: builtins, Tree: tr, Engine: pipetest.Engine(t), Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	errs := map[string]string{}
	for _, p := range m.Status().Pipes {
		errs[p.File] = p.LoadError
	}
	for file, want := range map[string]string{
		"counter.wasm": "", "folder.wasm": "",
		"bad.wasm":  `key "bytes" is under none of the pipe's roots`,
		"junk.wasm": "want an object of key to unit",
	} {
		if got := errs[file]; want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("%s: load error %q, want %q", file, got, want)
		}
	}
	line := `10.0.0.1 - - [05/Jan/2026:10:00:00 +0800] "GET /x HTTP/1.1" 200 1 "-" "curl/8"`
	m.Run(context.Background(), []*logformat.Format{logformat.MustCompile("combined")}, []string{"site"}, [][]byte{[]byte(line)})
	for _, c := range []struct{ key, want string }{
		// counter and folder share the root lines: the deepest declaration wins.
		{"lines", "req"},
		{"lines,ticks", "ticks"},
		{"lines,total", "lines"},
		{"site,lines", "req"},
		{"site,lines,total", "lines"},
		{"site", ""},
	} {
		if got := tr.UnitOf(strings.Split(c.key, ",")); got != c.want {
			t.Errorf("unit of %s = %q, want %q", c.key, got, c.want)
		}
	}
}
