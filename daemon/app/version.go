package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	pipeswasm "github.com/canopy-dev/canopy/pipes-wasm"
)

// buildVersion and buildCommit are what the package build stamps in with
// -ldflags "-X github.com/canopy-dev/canopy/daemon/app.buildVersion=…
// -X ….buildCommit=…". A plain go build leaves them empty: the module's
// version and Go's VCS stamp (vcs.revision) are used, when there.
var buildVersion, buildCommit string

// cmdVersion is `canopyd version`.
func cmdVersion(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("usage: canopyd version (takes no arguments, got %q)", args[0])
	}
	info, _ := debug.ReadBuildInfo()
	return writeVersion(os.Stdout, buildVersion, buildCommit, info, pipeswasm.Pipes(), pipeswasm.Modules())
}

// writeVersion prints the version, the commit it was built from and every
// embedded pipe and agent module with the start of its sha256, which names
// the exact build (the committed .wasm files are reproducible).
func writeVersion(w io.Writer, stampedVersion, stampedCommit string, info *debug.BuildInfo, pipes, modules fs.FS) error {
	version, commit := stampedVersion, stampedCommit
	if info != nil {
		if version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version = info.Main.Version
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" && commit == "" {
			commit = rev[:min(12, len(rev))]
			if t := settings["vcs.time"]; t != "" {
				commit += " " + t
			}
			if settings["vcs.modified"] == "true" {
				commit += " (modified)"
			}
		}
	}
	if version == "" {
		version = "devel"
	}
	if commit == "" {
		commit = "unknown"
	}
	goVersion := runtime.Version()
	if info != nil && info.GoVersion != "" {
		goVersion = info.GoVersion
	}
	fmt.Fprintf(w, "canopyd %s\ncommit %s\n%s %s/%s\n", version, commit, goVersion, runtime.GOOS, runtime.GOARCH)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, set := range []struct {
		title string
		files fs.FS
	}{{"built-in pipes", pipes}, {"built-in agent modules", modules}} {
		names, err := fs.Glob(set.files, "*.wasm")
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s:\n", set.title)
		for _, n := range names {
			b, err := fs.ReadFile(set.files, n)
			if err != nil {
				return fmt.Errorf("cannot read embedded %s: %w", n, err)
			}
			sum := sha256.Sum256(b)
			fmt.Fprintf(tw, "  %s\tsha256:%s\t%d bytes\n", strings.TrimSuffix(path.Base(n), ".wasm"), hex.EncodeToString(sum[:6]), len(b))
		}
	}
	return tw.Flush()
}
