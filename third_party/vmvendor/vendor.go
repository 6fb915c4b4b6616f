package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	modulePath = "github.com/VictoriaMetrics/VictoriaMetrics"
	copyDir    = "third_party/VictoriaMetrics"
	sumsFile   = "third_party/VictoriaMetrics.sums"
)

// copied is the files of the module every copy keeps besides the packages.
var copied = []string{"LICENSE", "go.mod"}

// upstream is the pristine module in the module cache.
type upstream struct{ Version, Dir, Sum string }

// vmCopy is third_party/VictoriaMetrics as vmvendor makes it.
type vmCopy struct {
	version, sum string
	files        map[string][]byte // slash path in the copy → patched content
	sums         map[string]string // slash path → sha256 of the upstream file
}

// requiredVersion is the module version canopy's go.mod requires; it also
// checks that go.mod replaces the module with the copy.
func requiredVersion(root string) (string, error) {
	out, err := exec.Command("go", "mod", "edit", "-json", filepath.Join(root, "go.mod")).Output()
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", filepath.Join(root, "go.mod"), err)
	}
	type modVersion struct{ Path, Version string }
	var mod struct {
		Require []modVersion
		Replace []struct{ Old, New modVersion }
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", fmt.Errorf("cannot parse go mod edit -json: %w", err)
	}
	want := "./" + copyDir
	replaced := false
	for _, r := range mod.Replace {
		replaced = replaced || r.Old.Path == modulePath && r.Old.Version == "" && r.New.Path == want
	}
	if !replaced {
		return "", fmt.Errorf("go.mod lacks: replace %s => %s", modulePath, want)
	}
	for _, r := range mod.Require {
		if r.Path == modulePath {
			return r.Version, nil
		}
	}
	return "", fmt.Errorf("go.mod does not require %s", modulePath)
}

// download finds (fetching it if needed) the required version in the module
// cache. go verifies it against the checksum database; when listed (the h1
// sum in the sums file) is given it is checked against that instead, so
// vm:check works offline from the module cache.
func download(root, listed string) (upstream, error) {
	v, err := requiredVersion(root)
	if err != nil {
		return upstream{}, err
	}
	cmd := exec.Command("go", "mod", "download", "-json", modulePath+"@"+v)
	cmd.Dir = root
	if listed != "" {
		cmd.Env = append(os.Environ(), "GONOSUMDB="+modulePath)
	}
	out, err := cmd.Output()
	var up struct {
		upstream
		Error string
	}
	if jerr := json.Unmarshal(out, &up); jerr != nil || up.Error != "" || err != nil {
		return upstream{}, fmt.Errorf("cannot download %s@%s: %v %s", modulePath, v, err, up.Error)
	}
	if listed != "" && up.Sum != listed {
		return upstream{}, fmt.Errorf("%s@%s in the module cache has sum %s, %s lists %s", modulePath, v, up.Sum, sumsFile, listed)
	}
	return up.upstream, nil
}

// canopyImports is every package of the module that canopy's own files
// (tests included, any build tags) import.
func canopyImports(root string) ([]string, error) {
	var pkgs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if p != root && (n == "testdata" || n == "node_modules" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || fileExists(filepath.Join(p, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		imps, err := moduleImports(p)
		pkgs = append(pkgs, imps...)
		return err
	})
	slices.Sort(pkgs)
	return slices.Compact(pkgs), err
}

// moduleImports lists the packages of the module a Go file imports, as paths
// inside the module.
func moduleImports(file string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", file, err)
	}
	var pkgs []string
	for _, s := range f.Imports {
		p, _ := strconv.Unquote(s.Path.Value)
		if rel, ok := strings.CutPrefix(p, modulePath+"/"); ok {
			pkgs = append(pkgs, rel)
		}
	}
	return pkgs, nil
}

// closure is the packages under base that seeds need, and their non-test Go
// files (all build tags: canopy may be built for any platform), as slash
// paths relative to base.
func closure(base string, seeds []string) (pkgs, files []string, err error) {
	seen := map[string]bool{}
	todo := slices.Clone(seeds)
	for len(todo) > 0 {
		pkg := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[pkg] {
			continue
		}
		seen[pkg] = true
		pkgs = append(pkgs, pkg)
		ents, err := os.ReadDir(filepath.Join(base, filepath.FromSlash(pkg)))
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read package %s: %w", pkg, err)
		}
		for _, e := range ents {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			files = append(files, path.Join(pkg, n))
			imps, err := moduleImports(filepath.Join(base, filepath.FromSlash(pkg), n))
			if err != nil {
				return nil, nil, err
			}
			todo = append(todo, imps...)
		}
	}
	slices.Sort(pkgs)
	slices.Sort(files)
	return pkgs, files, nil
}

// generate builds the copy in memory from the pristine module.
func generate(root string, up upstream) (*vmCopy, error) {
	seeds, err := canopyImports(root)
	if err != nil {
		return nil, err
	}
	_, files, err := closure(up.Dir, seeds)
	if err != nil {
		return nil, err
	}
	c := &vmCopy{version: up.Version, sum: up.Sum, files: map[string][]byte{}, sums: map[string]string{}}
	for _, f := range append(slices.Clone(copied), files...) {
		b, err := os.ReadFile(filepath.Join(up.Dir, filepath.FromSlash(f)))
		if err != nil {
			return nil, fmt.Errorf("cannot read %s@%s: %w", modulePath, up.Version, err)
		}
		c.sums[f] = sha256hex(b)
		c.files[f] = b
	}
	for f, edits := range patches {
		b, ok := c.files[f]
		if !ok {
			return nil, fmt.Errorf("patched file %s is not in the copy", f)
		}
		if c.files[f], err = applyEdits(b, edits, false); err != nil {
			return nil, fmt.Errorf("cannot patch %s@%s %s (upstream changed it; review patch.go): %w", modulePath, up.Version, f, err)
		}
	}
	return c, nil
}

// sumsText is the content of third_party/VictoriaMetrics.sums.
func (c *vmCopy) sumsText() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s: the packages canopy links of the module below, patched by\n", copyDir)
	fmt.Fprintf(&b, "# third_party/vmvendor/patch.go; lines are sha256 of the upstream files.\n")
	fmt.Fprintf(&b, "# Written by `task vm:vendor`; do not edit.\n")
	fmt.Fprintf(&b, "module %s %s %s\n", modulePath, c.version, c.sum)
	for _, f := range slices.Sorted(maps.Keys(c.sums)) {
		fmt.Fprintf(&b, "%s  %s\n", c.sums[f], f)
	}
	return b.Bytes()
}

// write replaces the copy and the sums file with c.
func (c *vmCopy) write(root string) error {
	dst := filepath.Join(root, filepath.FromSlash(copyDir))
	tmp := dst + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	for f, b := range c.files {
		p := filepath.Join(tmp, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("cannot write the copy: %w", err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("cannot write the copy: %w", err)
		}
	}
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("cannot remove the old copy: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("cannot move the copy in place: %w", err)
	}
	return os.WriteFile(filepath.Join(root, filepath.FromSlash(sumsFile)), c.sumsText(), 0o644)
}

// compare lists how the copy on disk differs from fresh.
func compare(root string, fresh *vmCopy) ([]string, error) {
	disk, err := readCopy(root)
	if err != nil {
		return nil, err
	}
	var diffs []string
	for _, f := range slices.Sorted(maps.Keys(fresh.files)) {
		b, ok := disk[f]
		switch {
		case !ok:
			diffs = append(diffs, f+": missing")
		case !bytes.Equal(b, fresh.files[f]):
			diffs = append(diffs, f+": differs")
		}
	}
	for _, f := range slices.Sorted(maps.Keys(disk)) {
		if _, ok := fresh.files[f]; !ok {
			diffs = append(diffs, f+": not in a fresh copy")
		}
	}
	sums, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(sumsFile)))
	if err != nil || !bytes.Equal(sums, fresh.sumsText()) {
		diffs = append(diffs, sumsFile+": differs")
	}
	return diffs, nil
}

// verify checks the copy against the sums file without the module cache:
// the version is the one go.mod requires, every file is the listed upstream
// file with exactly the patch applied, and the packages are those canopy
// needs. It lists what is wrong.
func verify(root string) ([]string, error) {
	v, err := requiredVersion(root)
	if err != nil {
		return nil, err
	}
	listed, version, _, err := readSums(root)
	if err != nil {
		return nil, err
	}
	disk, err := readCopy(root)
	if err != nil {
		return nil, err
	}
	var diffs []string
	if version != v {
		diffs = append(diffs, fmt.Sprintf("%s is of %s %s but go.mod requires %s", sumsFile, modulePath, version, v))
	}
	for _, f := range slices.Sorted(maps.Keys(disk)) {
		b := disk[f]
		want, ok := listed[f]
		if !ok {
			diffs = append(diffs, f+": not listed")
			continue
		}
		if edits, ok := patches[f]; ok {
			orig, err := applyEdits(b, edits, true)
			if err != nil {
				diffs = append(diffs, fmt.Sprintf("%s: not patched as patch.go says: %v", f, err))
				continue
			}
			if again, _ := applyEdits(orig, edits, false); !bytes.Equal(again, b) {
				diffs = append(diffs, f+": not patched as patch.go says")
				continue
			}
			b = orig
		}
		if sha256hex(b) != want {
			diffs = append(diffs, f+": differs from upstream")
		}
	}
	for _, f := range slices.Sorted(maps.Keys(listed)) {
		if _, ok := disk[f]; !ok {
			diffs = append(diffs, f+": missing")
		}
	}
	seeds, err := canopyImports(root)
	if err != nil {
		return nil, err
	}
	_, need, err := closure(filepath.Join(root, filepath.FromSlash(copyDir)), seeds)
	if err != nil {
		return append(diffs, err.Error()), nil
	}
	need = append(need, copied...)
	for _, f := range slices.Sorted(maps.Keys(disk)) {
		if !slices.Contains(need, f) {
			diffs = append(diffs, f+": canopy does not need it")
		}
	}
	return diffs, nil
}

// readSums parses the sums file: upstream hashes by path, the version and
// the module's h1 sum.
func readSums(root string) (sums map[string]string, version, sum string, err error) {
	p := filepath.Join(root, filepath.FromSlash(sumsFile))
	f, err := os.Open(p)
	if err != nil {
		return nil, "", "", fmt.Errorf("cannot read %s: %w", sumsFile, err)
	}
	defer f.Close()
	sums = map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch fields := strings.Fields(line); {
		case strings.HasPrefix(line, "#"):
		case len(fields) == 4 && fields[0] == "module" && fields[1] == modulePath:
			version, sum = fields[2], fields[3]
		case len(fields) == 2 && len(fields[0]) == 64:
			sums[fields[1]] = fields[0]
		default:
			return nil, "", "", fmt.Errorf("%s: bad line %q", sumsFile, line)
		}
	}
	return sums, version, sum, sc.Err()
}

// readCopy is every file of the copy on disk by slash path.
func readCopy(root string) (map[string][]byte, error) {
	base := filepath.Join(root, filepath.FromSlash(copyDir))
	files := map[string][]byte{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", copyDir, err)
	}
	return files, nil
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
