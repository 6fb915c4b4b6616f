package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfig loads the shipped, commented example: it must stay valid.
func TestExampleConfig(t *testing.T) {
	if _, err := Load("../../conf/canopyd.yaml", false); err != nil {
		t.Fatalf("conf/canopyd.yaml: %v", err)
	}
}

func TestMissingConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := Load(missing, true); err != nil {
		t.Errorf("optional missing config: %v, want defaults", err)
	}
	if _, err := Load(missing, false); err == nil || !strings.Contains(err.Error(), "cannot read config") {
		t.Errorf("required missing config: err = %v", err)
	}
}

// TestBadConfigs checks that each bad fixture is refused with the one line
// in its golden NAME.err: the file, the line, and what is wrong.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, err := Load(path, false)
			if err == nil {
				t.Fatalf("loaded, want an error")
			}
			golden(t, strings.TrimSuffix(path, ".yaml")+".err", err.Error())
		})
	}
}

// TestSourceWarnings: a log that does not exist yet or a glob matching no
// file load (they are followed when they appear) but get one warning line
// naming the config line, golden in NAME.warn.
func TestSourceWarnings(t *testing.T) {
	files, err := filepath.Glob("testdata/warn/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no warn fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := Load(path, false)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(path, ".yaml")+".warn", strings.Join(c.CheckSources(), "\n"))
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got (one line) with the file's content.
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		must(t, os.WriteFile(file, []byte(got+"\n"), 0o644))
	}
	want, err := os.ReadFile(file)
	must(t, err)
	if strings.Contains(got, "\n") && !strings.HasSuffix(file, ".warn") {
		t.Errorf("error spans lines:\n%s", got)
	}
	if got != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
