package pipes

import (
	"context"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// TestGeoFailures: the built-in geo pipe with no database, a corrupt one,
// one outside its grant and (not as root, who reads anything) one canopyd
// may not read each gives one clear line in /status, and the status pipe
// beside it counts every line exactly.
func TestGeoFailures(t *testing.T) {
	var builtins fstest.MapFS = map[string]*fstest.MapFile{}
	for _, n := range []string{"geo", "status"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "pipes-wasm", n+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		builtins[n+".wasm"] = &fstest.MapFile{Data: b}
	}
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	if err := os.WriteFile(corrupt, []byte("not a maxmind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked.mmdb")
	if err := os.WriteFile(locked, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	type want struct{ idle, loadError string }
	cases := []struct {
		name string
		pc   config.PipeConfig
		want want
	}{
		{"no database", config.PipeConfig{}, want{idle: "no database: set params.database to a .mmdb file and grant it in read_files"}},
		{"corrupt", config.PipeConfig{Params: map[string]string{"database": corrupt}, ReadFiles: []string{corrupt}},
			want{loadError: "pipe geo: init: module reported an error: cannot read geo database " + corrupt + ": error opening database: invalid MaxMind DB file"}},
		{"not granted", config.PipeConfig{Params: map[string]string{"database": corrupt}},
			want{loadError: "pipe geo: init: module reported an error: cannot read geo database " + corrupt + ": open " + corrupt + ": Bad file number (is it the file granted in the pipe's read_files?)"}},
	}
	if os.Geteuid() != 0 {
		cases = append(cases, struct {
			name string
			pc   config.PipeConfig
			want want
		}{"unreadable", config.PipeConfig{Params: map[string]string{"database": locked}, ReadFiles: []string{locked}},
			want{loadError: "pipe geo: init: module reported an error: cannot read geo database " + locked + ": open " + locked + ": Permission denied"}})
	}
	logText, err := os.ReadFile("../../pipes-src/status/testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus, err := os.ReadFile("../../pipes-src/status/testdata/want.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := tree.New()
			m, err := New(Options{Builtins: builtins, Tree: tr, Engine: pipetest.Engine(t),
				Config: config.PipesConfig{Config: map[string]config.PipeConfig{"geo": tc.pc}}, Log: log.New(io.Discard, "", 0)})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			_, err = m.Lines(context.Background(), []string{"main"}, strings.Split(string(logText), "\n"))
			if err != nil {
				t.Fatal(err)
			}
			es := entries(tr)
			var got strings.Builder
			for _, k := range slices.Sorted(maps.Keys(es)) {
				if strings.HasPrefix(k, "geo") {
					t.Errorf("geo wrote %s", k)
				}
				got.WriteString(k + " " + strconv.FormatFloat(es[k].Value, 'g', -1, 64) + "\n")
			}
			if got.String() != string(wantStatus) {
				t.Errorf("tree:\n%s\nwant (status pipe's golden):\n%s", got.String(), wantStatus)
			}
			var geo *PipeStatus
			for i, p := range m.Status().Pipes {
				if p.File == "geo.wasm" {
					geo = &m.Status().Pipes[i]
				} else if !p.Loaded {
					t.Errorf("%s not loaded: %s", p.File, p.LoadError)
				}
			}
			if geo == nil {
				t.Fatal("no geo.wasm in /status")
			}
			if got := (want{idle: geo.Idle, loadError: geo.LoadError}); got != tc.want {
				t.Errorf("geo in /status: %+v, want %+v", got, tc.want)
			}
			if (tc.want.idle != "") == geo.Quarantined {
				t.Errorf("geo quarantined = %v (reason %q); an idle pipe is not, a failed one is", geo.Quarantined, geo.QuarantineReason)
			}
		})
	}
}
