package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/daemon/ingest"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// cmdPipe is `canopyd pipe test FILE.wasm [--log-format F] < access.log`.
func cmdPipe(args []string) error {
	if len(args) == 0 || args[0] != "test" {
		return errors.New("usage: canopyd pipe test FILE.wasm [--log-format F] [--param k=v] [--raw] < access.log")
	}
	fs := flag.NewFlagSet("pipe test", flag.ContinueOnError)
	format := fs.String("log-format", "combined", `nginx log_format text, or "combined", "main", "json"`)
	raw := fs.Bool("raw", false, "print each batch's deltas as the pipe emits them, not the merged total")
	batch := fs.Int("batch", 512, "lines per process call")
	var params paramList
	fs.Var(&params, "param", "pipe param key=value (repeatable)")
	file, rest := "", args[1:]
	// Accept the file before or after the flags.
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if file == "" {
		return errors.New("pipe test: name a .wasm file")
	}
	return pipeTest(file, *format, params.m, *raw, *batch, os.Stdin, os.Stdout, os.Stderr)
}

type paramList struct{ m map[string]string }

func (p *paramList) String() string { return fmt.Sprint(p.m) }
func (p *paramList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("param %q: want key=value", s)
	}
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[k] = v
	return nil
}

// pipeTest runs one pipe over in through the daemon's ingest path (Feed:
// parse, pipe, merge into a fresh tree) and writes the tree as "key value"
// lines, or with raw every batch's deltas as the pipe emits them.
func pipeTest(file, format string, params map[string]string, raw bool, batch int, in io.Reader, out, errOut io.Writer) error {
	wasm, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	cache := filepath.Join(os.TempDir(), "canopy-wazero-cache")
	if d, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(d, "canopy", "wasm-cache")
	}
	eng, err := host.NewEngine(cache)
	if err != nil {
		return err
	}
	defer eng.Close()
	ctx := context.Background()
	start := time.Now()
	p, err := eng.LoadPipe(ctx, file, wasm, host.PipeOptions{Params: params})
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "pipe %s %s: fields %s; loaded in %v\n", p.Name(), p.Manifest.Version,
		strings.Join(p.Manifest.Fields, ","), time.Since(start).Round(time.Millisecond))

	bw := bufio.NewWriter(out)
	defer bw.Flush()
	failed := 0
	t := tree.New()
	m, err := pipes.New(pipes.Options{Tree: t, Engine: eng, Workers: 1, BatchSize: batch,
		Log: log.New(io.Discard, "", 0), // Observe reports
		Observe: func(_ *host.Pipe, n int, ds []pipeabi.Delta, err error) {
			switch {
			case errors.Is(err, host.ErrQuarantined):
				failed += n
				fmt.Fprintf(errOut, "pipe: %v\n", err)
				return
			case err != nil:
				failed += n
				fmt.Fprintf(errOut, "batch failed: %v\n", err)
				return
			}
			if raw {
				writeDeltas(bw, ds)
			}
		}})
	if err != nil {
		p.Close(ctx)
		return err
	}
	defer m.Close()
	if err := m.Add(filepath.Base(file), p); err != nil {
		return err
	}
	if _, err := m.Format(format); err != nil {
		return fmt.Errorf("log format: %w", err)
	}
	feed := NewFeed(m)
	src := &ingest.Source{Name: "stdin", LogFormat: format}
	var lines [][]byte
	n, bad := 0, 0
	flush := func() error {
		r, err := feed.Run(ctx, src, lines, n-len(lines))
		for _, e := range r.Errors {
			if bad++; bad <= 5 {
				fmt.Fprintf(errOut, "bad %s\n", e)
			}
		}
		bad += r.Bad - len(r.Errors)
		lines = lines[:0]
		return err
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), logformat.MaxLineLen+2)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		n++
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
		if len(lines) >= batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cannot read lines: %w", err)
	}
	if !raw {
		writeTree(bw, t)
	}
	st := p.Stats()
	fmt.Fprintf(errOut, "%d lines, %d bad, %d in failed batches; %.0f ns/line in the pipe; instance memory %d KiB; failures %d\n",
		n, bad, failed, st.NanosPerLine, st.InstanceBytes>>10, st.Failures)
	if st.Quarantined {
		return fmt.Errorf("pipe quarantined: %s", st.QuarantineReason)
	}
	return nil
}

// writeDeltas lists a batch's deltas: "key value samples=N" or key "marker".
func writeDeltas(w io.Writer, ds []pipeabi.Delta) {
	for _, d := range ds {
		if d.IsMarker {
			fmt.Fprintf(w, "%s %q\n", key.Join(d.Path), d.Marker)
		} else {
			fmt.Fprintf(w, "%s %g samples=%d\n", key.Join(d.Path), d.Value, d.Count)
		}
	}
}

// writeTree lists every number and marker of t as "key value" or key
// "marker" lines in key order: stable enough for golden files.
func writeTree(w io.Writer, t *tree.Tree) {
	all, _ := key.Parse("**")
	es := t.Get(all)
	slices.SortStableFunc(es, func(a, b tree.Entry) int { return strings.Compare(a.Key, b.Key) })
	for _, e := range es {
		if e.IsMarker {
			fmt.Fprintf(w, "%s %q\n", e.Key, e.Marker)
		} else {
			fmt.Fprintf(w, "%s %s\n", e.Key, strconv.FormatFloat(e.Value, 'g', 10, 64))
		}
	}
}
