// Command vmvendor writes third_party/VictoriaMetrics: the packages of
// github.com/VictoriaMetrics/VictoriaMetrics that canopy links, copied from
// the module cache at the version go.mod requires, with the patch in
// patch.go applied, and third_party/VictoriaMetrics.sums listing what was
// copied. go.mod replaces the module with that folder. RATIONALE.md says why.
//
//	go run ./third_party/vmvendor -root .          # rewrite the copy (task vm:vendor)
//	go run ./third_party/vmvendor -root . -check   # fail if it differs from a fresh copy
//
// The copy lives in the main module (not tools/) so its offline drift test
// runs with go test ./...
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	root := flag.String("root", "", "canopy repository root (default: the folder of `go env GOMOD`)")
	check := flag.Bool("check", false, "compare the copy with a fresh one instead of writing it")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "vmvendor:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	if root == "" {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			return fmt.Errorf("cannot find the canopy module: %w", err)
		}
		root = filepath.Dir(strings.TrimSpace(string(out)))
	}
	listed := ""
	if check {
		if _, _, sum, err := readSums(root); err == nil {
			listed = sum
		}
	}
	up, err := download(root, listed)
	if err != nil {
		return err
	}
	fresh, err := generate(root, up)
	if err != nil {
		return err
	}
	if check {
		diffs, err := compare(root, fresh)
		if err != nil {
			return err
		}
		if len(diffs) > 0 {
			return fmt.Errorf("%s differs from a fresh copy of %s %s (run task vm:vendor):\n  %s", copyDir, modulePath, up.Version, strings.Join(diffs, "\n  "))
		}
		fmt.Printf("%s is %s %s, %d files, patched\n", copyDir, modulePath, up.Version, len(fresh.files))
		return nil
	}
	return fresh.write(root)
}
