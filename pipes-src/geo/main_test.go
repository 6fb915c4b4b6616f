package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

const wasmFile = "../../pipes-wasm/geo.wasm"

// writeDB copies testdata/<dbType>.mmdb, a tiny database of documentation
// ranges written by tools/mkmmdb (`task geo:fixtures`), to a temporary
// file the test may change.
func writeDB(t testing.TB, dbType string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dbType+".mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), dbType+".mmdb")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadWASM loads the committed geo.wasm with the database granted (or not).
func loadWASM(t testing.TB, cfg map[string]string, grant []string) (*host.Pipe, error) {
	t.Helper()
	wasm, err := os.ReadFile(wasmFile)
	if err != nil {
		t.Fatal(err)
	}
	var fg []host.FileGrant
	for _, f := range grant {
		fg = append(fg, host.FileGrant{HostFile: f, GuestPath: filepath.ToSlash(f)})
	}
	p, err := pipetest.Engine(t).LoadPipe(context.Background(), wasmFile, wasm,
		host.PipeOptions{Params: cfg, Grants: host.Grants{Files: fg}})
	if p != nil {
		t.Cleanup(func() { p.Close(context.Background()) })
	}
	return p, err
}

const xffFormat = `$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`

// TestLookup: country, city and AS per client of testdata/access.log for
// each database type, the native build and the committed geo.wasm alike.
// testdata/want.txt is worked out by hand from the networks in tools/mkmmdb.
func TestLookup(t *testing.T) {
	golden, err := os.ReadFile("testdata/want.txt")
	if err != nil {
		t.Fatal(err)
	}
	logText, err := os.ReadFile("testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dbType string
		want   string
	}{
		{"Canopy-Test", string(golden)}, // every panel: testdata/want.txt
		{"GeoLite2-Country", "geo,country,DE 4\ngeo,country,FR 1\ngeo,country,JP 1\ngeo,country,_unknown 1\n"},
		{"GeoLite2-ASN", "geo,asn,AS64500 Example Net 3\ngeo,asn,AS64501 Other Net 1\ngeo,asn,AS64502 1\ngeo,asn,_unknown 2\n"},
	} {
		t.Run(tc.dbType, func(t *testing.T) {
			db := writeDB(t, tc.dbType)
			cfg := map[string]string{"database": db}
			recs := pipetest.Lines(t, xffFormat, string(logText))
			if got := pipetest.Native(t, &geoPipe{}, cfg, recs).String(); got != tc.want {
				t.Errorf("native:\n%s\nwant\n%s", got, tc.want)
			}
			p, err := loadWASM(t, cfg, []string{db})
			if err != nil {
				t.Fatal(err)
			}
			res, err := pipetest.RunPipe(p, recs)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.String(); got != tc.want {
				t.Errorf("wasm:\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestFailures: no database, a corrupt one, one not granted and one the
// daemon's user may not read each give one clear error, never a panic.
func TestFailures(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	if err := os.WriteFile(corrupt, []byte("not a maxmind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := writeDB(t, "GeoLite2-Country")
	cases := []struct {
		name  string
		cfg   map[string]string
		grant []string
		want  string
	}{
		{"no database", nil, nil, "pipe geo is idle: no database: set params.database to a .mmdb file and grant it in read_files"},
		{"corrupt", map[string]string{"database": corrupt}, []string{corrupt},
			"pipe geo: init: module reported an error: cannot read geo database " + corrupt + ": error opening database: invalid MaxMind DB file"},
		{"not granted", map[string]string{"database": good}, nil,
			"(is it the file granted in the pipe's read_files?)"},
	}
	if os.Geteuid() != 0 { // root reads any file: only the grant can stop it
		locked := filepath.Join(dir, "locked.mmdb")
		if err := os.WriteFile(locked, nil, 0); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct {
			name  string
			cfg   map[string]string
			grant []string
			want  string
		}{"unreadable", map[string]string{"database": locked}, []string{locked}, "Permission denied"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadWASM(t, tc.cfg, tc.grant)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// BenchmarkPipe looks every line up in the generated database (most of
// loggen's clients are in none of its networks: the full tree walk).
func BenchmarkPipe(b *testing.B) {
	db := writeDB(b, "Canopy-Test")
	pipebench.PipeWith(b, &geoPipe{}, wasmFile, host.PipeOptions{Params: map[string]string{"database": db},
		Grants: host.Grants{Files: []host.FileGrant{{HostFile: db, GuestPath: db}}}})
}
