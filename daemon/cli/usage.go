package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// groups orders -h: a flag goes to the first group whose test it passes.
var groups = []struct {
	title string
	has   func(name string) bool
}{
	{"Daemon", func(string) bool { return false }}, // everything not below
	{"Logs", func(n string) bool { return strings.HasPrefix(n, "log") || strings.HasPrefix(n, "default-source") }},
	{"Pipes", func(n string) bool { return strings.HasPrefix(n, "pipes") }},
	{"Trend store", func(n string) bool { return strings.HasPrefix(n, "trend.") }},
}

// printUsage writes canopyd -h: the commands, then the flags by group,
// each with its default.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage:
  canopyd [flags]                     run the daemon
  canopyd replay [flags] FILE...      replay old logs through the pipes
  canopyd report [flags] FILE...      a report (text, JSON or HTML) of old logs
  canopyd pipe test FILE.wasm         run one pipe over stdin
  canopyd gen [flags]                 generate nginx log lines
  canopyd version                     print version, commit and built-in pipes
(canopyd COMMAND -h lists a command's flags)
`)
	byGroup := make([][]*flag.Flag, len(groups))
	fs.VisitAll(func(f *flag.Flag) {
		g := 0
		for i := 1; i < len(groups); i++ {
			if groups[i].has(f.Name) {
				g = i
				break
			}
		}
		byGroup[g] = append(byGroup[g], f)
	})
	for i, fl := range byGroup {
		if len(fl) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", groups[i].title)
		for _, f := range fl {
			printFlag(w, f)
		}
	}
}

func printFlag(w io.Writer, f *flag.Flag) {
	typ, usage := flag.UnquoteUsage(f)
	fmt.Fprintf(w, "  -%s", f.Name)
	if typ != "" {
		fmt.Fprintf(w, " %s", typ)
	}
	fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
	if !strings.Contains(usage, "(default") {
		def := f.DefValue
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(w, " (default %s)", def)
	}
	fmt.Fprintln(w)
}
