package app

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
)

// cmdGen writes a deterministic synthetic access log to stdout:
//
//	canopyd gen -n 1000000 -seed 1 -format main -bad 0.001 -start 2026-01-05T00:00:00+08:00 -span 72h > access.log
func cmdGen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	n := fs.Int("n", 100000, "number of lines")
	seed := fs.Uint64("seed", 1, "random seed: the same seed writes the same log")
	format := fs.String("format", "combined", "log format: combined, main (combined + $request_time $upstream_response_time), json (the main fields as nginx escape=json writes them; see daemon/loggen.JSONFormat) or vcombined ($host, then combined; see daemon/loggen.VCombinedFormat)")
	bad := fs.Float64("bad", 0.001, "fraction of malformed lines (0..1)")
	start := fs.String("start", loggen.DefaultStart.Format(time.RFC3339), "time of the first line, RFC 3339 (its offset is the log's zone)")
	span := fs.Duration("span", 72*time.Hour, "time the lines spread over")
	out := fs.String("o", "-", "output file (- for stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("gen takes no arguments, got %q", fs.Args())
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("cannot parse -start %q (want RFC 3339, e.g. 2026-01-05T00:00:00+08:00): %w", *start, err)
	}
	w := os.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("cannot create %q: %w", *out, err)
		}
		defer f.Close()
		w = f
	}
	st, err := loggen.Write(w, loggen.Config{Lines: *n, Seed: *seed, Format: *format, Bad: *bad, Start: t0, Span: *span})
	if err != nil {
		return err
	}
	if w != os.Stdout {
		if err := w.Close(); err != nil {
			return fmt.Errorf("cannot write %q: %w", *out, err)
		}
	}
	fmt.Fprintf(os.Stderr, "canopyd gen: %d lines, %d malformed\n", st.Lines, st.Bad)
	return nil
}
