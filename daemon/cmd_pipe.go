package main

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
	"strings"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/abi"
	"github.com/canopy-dev/canopy/sdk/host"
	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// pipeFlags are the daemon's pipe settings.
type pipeFlags struct {
	dir, cache string
	workers    int
}

func registerPipeFlags(fs *flag.FlagSet) *pipeFlags {
	f := &pipeFlags{}
	fs.StringVar(&f.dir, "pipes", "pipes-wasm", "WASM pipes folder (every .wasm in it runs; changes apply live)")
	fs.StringVar(&f.cache, "pipes.cache", "", "WASM compilation cache folder (default DATA/wasm-cache)")
	fs.IntVar(&f.workers, "pipes.workers", 0, "batches run in parallel (default: the number of CPUs)")
	return f
}

// start loads the pipes folder and watches it until ctx ends.
func (f *pipeFlags) start(ctx context.Context, dataDir string, cfg config.PipesConfig, t *tree.Tree) (*pipes.Manager, func(), error) {
	dir := f.dir
	if cfg.Dir != "" && !flagSet("pipes") {
		dir = cfg.Dir
	}
	cache := f.cache
	if cache == "" {
		cache = filepath.Join(dataDir, "wasm-cache")
	}
	eng, err := host.NewEngine(cache)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		log.Printf("pipes folder %s: %v (no pipes until it exists)", dir, err)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			eng.Close()
			return nil, nil, fmt.Errorf("cannot create pipes folder %q: %w", dir, err)
		}
	}
	m, err := pipes.New(pipes.Options{Dir: dir, Tree: t, Engine: eng, Config: cfg, Workers: f.workers})
	if err != nil {
		eng.Close()
		return nil, nil, err
	}
	m.Watch(ctx)
	return m, func() { m.Close(); eng.Close() }, nil
}

// pushFormats is the format list for pushed access-log lines.
func pushFormats(cfg config.PipesConfig) []string {
	if cfg.PushLogFormat != "" {
		return []string{cfg.PushLogFormat}
	}
	return nil
}

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

func pipeTest(file, format string, params map[string]string, raw bool, batch int, in io.Reader, out, errOut io.Writer) error {
	f, err := logformat.Compile(format)
	if err != nil {
		return fmt.Errorf("log format: %w", err)
	}
	wasm, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	cache := pipetest.CacheDir()
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
	defer p.Close(ctx)
	fmt.Fprintf(errOut, "pipe %s %s: fields %s; loaded in %v\n", p.Name(), p.Manifest.Version,
		strings.Join(p.Manifest.Fields, ","), time.Since(start).Round(time.Millisecond))

	parser := f.NewParser()
	total := pipetest.NewResult(p.Manifest)
	var lrecs []logformat.Record
	var recs []abi.Record
	var lines [][]byte
	var ds []abi.Delta
	var n, bad, failed int
	bw := bufio.NewWriter(out)
	defer bw.Flush()
	flush := func() {
		if len(lines) == 0 {
			return
		}
		lrecs = append(lrecs[:0], make([]logformat.Record, len(lines))...)
		recs = recs[:0]
		for i, l := range lines {
			if err := parser.Parse(l, &lrecs[i]); err != nil {
				bad++
				if bad <= 5 {
					fmt.Fprintf(errOut, "bad line %d: %v\n", n-len(lines)+i+1, err)
				}
				continue
			}
			recs = append(recs, abi.Record{})
			host.FromLog(&recs[len(recs)-1], &lrecs[i])
		}
		lines = lines[:0]
		if len(recs) == 0 {
			return
		}
		buf := p.Layout.AppendBatch(nil, recs)
		pi, err := p.Get(ctx)
		if err != nil {
			failed += len(recs)
			fmt.Fprintf(errOut, "pipe: %v\n", err)
			return
		}
		ds, err = pi.Process(ctx, buf, len(recs), ds[:0])
		p.Put(ctx, pi)
		if err != nil {
			failed += len(recs)
			fmt.Fprintf(errOut, "batch failed: %v\n", err)
			return
		}
		if raw {
			for _, d := range ds {
				if d.IsMarker {
					fmt.Fprintf(bw, "%s %q\n", pipetest.Key(d.Path), d.Marker)
				} else {
					fmt.Fprintf(bw, "%s %g samples=%d\n", pipetest.Key(d.Path), d.Value, d.Count)
				}
			}
		}
		total.Merge(ds)
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
			flush()
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cannot read lines: %w", err)
	}
	if !raw {
		bw.WriteString(total.String())
	}
	st := p.Stats()
	fmt.Fprintf(errOut, "%d lines, %d bad, %d in failed batches; %.0f ns/line in the pipe; instance memory %d KiB; failures %d\n",
		n, bad, failed, st.NanosPerLine, st.InstanceBytes>>10, st.Failures)
	if st.Quarantined {
		return fmt.Errorf("pipe quarantined: %s", st.QuarantineReason)
	}
	return nil
}
