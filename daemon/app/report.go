package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/ingest"
	"github.com/canopy-dev/canopy/daemon/report"
)

// cmdReport replays old logs through the built-in pipes, as `replay`
// does, and writes every panel of the resulting tree:
//
//	canopyd report [--html report.html|--json|--text] FILE...
func cmdReport(args []string) error { return runReport(args, os.Stdout) }

func runReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	htmlOut := fs.String("html", "", "write one self-contained HTML file there")
	asJSON := fs.Bool("json", false, "write the report as JSON to stdout (docs/report.md)")
	asText := fs.Bool("text", false, "write the report as aligned tables to stdout (the default)")
	top := fs.Int("top", 20, "rows per panel in the text report (0: all)")
	logFormat := fs.String("log-format", "", "nginx log_format text or preset (combined, main, json; default: whichever of main, combined, JSON parses)")
	dataDir := fs.String("data", "", "data folder for the WASM compilation cache (default as the daemon's)")
	configPath := fs.String("config", config.DefaultFile, "YAML config file (pipes section: e.g. the geo database; optional)")
	progress := fs.String("progress", "auto", "progress display: bar, plain, none or auto (bar on a terminal)")
	pipeFl := RegisterPipeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	pipeFl.DirFromFlag = flagSetIn(fs, "pipes")
	usage := "usage: canopyd report [--html report.html|--json|--text] FILE…"
	if fs.NArg() == 0 {
		return errors.New(usage)
	}
	n := 0
	for _, b := range []bool{*htmlOut != "", *asJSON, *asText} {
		if b {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("--html, --json and --text exclude each other; %s", usage)
	}
	var files []report.File
	for _, f := range fs.Args() {
		fi, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("cannot report on %q: %w", f, err)
		}
		files = append(files, report.File{Name: f, Size: fi.Size()})
	}
	_, t, pm, err := openOffline(fs, *configPath, dataDir, pipeFl)
	if err != nil {
		return err
	}
	defer pm.close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	feed := NewFeed(pm.Manager)
	src := ingest.Source{Name: "report", LogFormat: *logFormat}
	opt := ingest.ReplayOptions{Source: src, Consumer: feed}
	// The log's clock gives the overview's time span; one interval longer
	// than any log makes its Tick a no-op.
	if opt.TimeOf, err = lineTime(src, feed); err != nil {
		return err
	}
	opt.Interval = time.Duration(1 << 62)
	opt.Tick = func(time.Time) error { return nil }
	start := time.Now()
	opt.Progress = progressReporter(progressMode(*progress), os.Stderr, start)
	res, err := ingest.Replay(ctx, fs.Args(), opt)
	if err != nil {
		return err
	}
	// One tick for the whole log: the latency pipe writes its slowest
	// requests and percentiles then.
	pm.Manager.Tick(ctx, time.Now())
	r := report.Build(t, report.Input{Files: files, Lines: res.Lines, Bad: feed.Bad(),
		Skipped: res.TooLong + res.InvalidUTF8, First: res.First, Last: res.Last})
	switch {
	case *asJSON:
		err = report.WriteJSON(stdout, r)
	case *htmlOut != "":
		err = writeHTMLReport(*htmlOut, r)
	default:
		err = report.WriteText(stdout, r, report.TextOptions{Top: *top})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "canopyd report: %d lines (%d bad) in %.2fs", res.Lines, feed.Bad(), time.Since(start).Seconds())
	if *htmlOut != "" {
		fmt.Fprintf(os.Stderr, "; wrote %s", *htmlOut)
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

func writeHTMLReport(path string, r *report.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create the HTML report %q: %w", path, err)
	}
	if err := report.WriteHTML(f, r, report.HTMLOptions{Generated: time.Now()}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write the HTML report %q: %w", path, err)
	}
	return nil
}

// progressMode resolves "auto": a bar on a terminal, plain lines else.
func progressMode(mode string) string {
	if mode != "auto" {
		return mode
	}
	// A character device is a terminal here (or /dev/null, where the bar
	// costs nothing); pipes and files get the plain lines.
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return "bar"
	}
	return "plain"
}
