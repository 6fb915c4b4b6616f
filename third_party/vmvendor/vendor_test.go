package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// root is the canopy repository (go test runs in the package folder).
const root = "../.."

// TestCopyMatchesSums is the drift check: the committed copy is what
// task vm:vendor writes. It needs no network and no module cache.
func TestCopyMatchesSums(t *testing.T) {
	diffs, err := verify(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Errorf("%s is not what task vm:vendor writes:\n  %s", copyDir, strings.Join(diffs, "\n  "))
	}
}

// TestVerifyCatchesDrift changes a scratch repository (canopy's go.mod, its
// imports of the module and the copy) one way at a time: verify must name
// the change.
func TestVerifyCatchesDrift(t *testing.T) {
	const fsutil = "lib/fs/fsutil/fsutil.go"
	cases := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   string // in the diffs; "" for none
	}{
		{"unchanged", func(*testing.T, string) {}, ""},
		{"file edited", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, copyDir, "lib/logger/logger.go"), "// local change\n")
		}, "lib/logger/logger.go: differs from upstream"},
		{"patch undone", func(t *testing.T, dir string) {
			p := filepath.Join(dir, copyDir, fsutil)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := applyEdits(b, patches[fsutil], true)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, string(orig))
		}, fsutil + ": not patched as patch.go says"},
		{"file added", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, copyDir, "lib/logger/extra.go"), "package logger\n")
		}, "lib/logger/extra.go: not listed"},
		{"file removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, copyDir, "LICENSE")); err != nil {
				t.Fatal(err)
			}
		}, "LICENSE: missing"},
		{"package no longer needed", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "uses.go"), "package uses\n")
		}, "lib/storage/storage.go: canopy does not need it"},
		{"package newly needed", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "more.go"), "package uses\n\nimport _ \""+modulePath+"/lib/httpserver\"\n")
		}, "cannot read package lib/httpserver"},
		{"version bumped", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "go.mod")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, strings.Replace(string(b), "v1.151.0", "v1.999.0", 1))
		}, "go.mod requires v1.999.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := scratchRepo(t)
			c.change(t, dir)
			diffs, err := verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(diffs, "\n")
			if c.want == "" && got != "" || !strings.Contains(got, c.want) {
				t.Errorf("diffs:\n%s\nwant one with %q", got, c.want)
			}
		})
	}
}

func TestApplyEdits(t *testing.T) {
	edits := []edit{{old: "a", new: "b"}, {old: "bc", new: "X"}}
	cases := []struct {
		src, want string
		undo      bool
		err       bool
	}{
		{src: "acd", want: "Xd"},
		{src: "Xd", want: "acd", undo: true},
		{src: "aad", err: true}, // "a" twice
		{src: "zzz", err: true}, // "a" missing
	}
	for _, c := range cases {
		got, err := applyEdits([]byte(c.src), edits, c.undo)
		if (err != nil) != c.err || err == nil && string(got) != c.want {
			t.Errorf("applyEdits(%q, undo=%v) = %q, %v; want %q (error: %v)", c.src, c.undo, got, err, c.want, c.err)
		}
	}
}

// scratchRepo is a repository holding canopy's go.mod, one file importing
// what canopy imports of the module, the copy and the sums file.
func scratchRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	seeds, err := canopyImports(root)
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	src.WriteString("package uses\n\nimport (\n")
	for _, s := range seeds {
		fmt.Fprintf(&src, "\t_ %q\n", modulePath+"/"+s)
	}
	src.WriteString(")\n")
	writeFile(t, filepath.Join(dir, "uses.go"), src.String())
	files, err := readCopy(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		writeFile(t, filepath.Join(dir, copyDir, f), string(files[f]))
	}
	for _, f := range []string{"go.mod", sumsFile} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), string(b))
	}
	return dir
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
