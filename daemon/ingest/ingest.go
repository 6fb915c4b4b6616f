// Package ingest follows access logs like `tail -F` — globs, rename and
// copytruncate rotation, exact resumption from checkpoints — and also reads
// nginx's syslog output over UDP and replays old (plain or gzipped) logs.
// It hands batches of raw lines to a Consumer (the parse + pipes + tree
// pipeline) and records, per file, the offset of the last line the
// consumer applied, so a checkpoint taken together with the tree snapshot
// resumes exactly: no line lost, none counted twice.
package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Source describes where lines come from and how the consumer reads them.
type Source struct {
	// Name identifies the source in /status and logs (the configured path,
	// glob or listen address).
	Name string
	// LogFormat is nginx's log_format text or a preset name ("combined").
	LogFormat string
	// Prefix is prepended to every tree path this source produces.
	Prefix string
}

// Batch is a run of consecutive complete lines from one file (or one
// datagram burst). Lines hold no trailing newline; they alias buffers that
// are reused after Consume returns, so a consumer must not keep them.
type Batch struct {
	Source *Source
	// File is the file the lines were read from ("" for syslog).
	File string
	// Start and End are byte offsets in File: Lines are exactly the
	// non-empty lines in [Start, End).
	Start, End int64
	Lines      [][]byte
	// Replay is set when the lines are history (canopyd replay): the
	// consumer should use each line's own timestamp.
	Replay bool
}

// Consumer applies batches. Consume must be safe for concurrent use and
// synchronous: when it returns, the batch's effect is in the tree, because
// the follower then records End as applied and a checkpoint may be written.
// Batches of one file are consumed several at once (Options.Buffers), so
// they may be applied in any order; their offsets are recorded in order.
// An error is logged and counted; the lines are not retried.
type Consumer interface {
	Consume(b *Batch) error
}

// ConsumerFunc adapts a function to Consumer.
type ConsumerFunc func(b *Batch) error

// Consume calls f.
func (f ConsumerFunc) Consume(b *Batch) error { return f(b) }

// FileSource is one configured path or glob to follow.
type FileSource struct {
	Source
	// Path is a file path or a glob (filepath.Match syntax).
	Path string
}

// Options configures an Ingester. Zero values mean the defaults.
type Options struct {
	Files    []FileSource
	Consumer Consumer
	// Checkpoint is the meta a previous Checkpoint wrote (nil on a fresh
	// start).
	Checkpoint []byte
	// FromEnd starts files that have no checkpoint at their end (like
	// `tail -F`) instead of their beginning. Files that appear later are
	// always read from the beginning.
	FromEnd bool
	// PollInterval bounds how long a change can go unnoticed when file
	// notifications are unavailable (default 250 ms).
	PollInterval time.Duration
	// RotateWait is how long a renamed-away file is still read after its
	// last growth, for writers that have not reopened yet (default 5 s).
	RotateWait time.Duration
	// GlobInterval is how often globs are re-expanded (default 2 s).
	GlobInterval time.Duration
	// BatchLines caps lines per batch (default 8192, as replay's). A
	// batch also ends at the end of the file, so the cap only applies to
	// a reader that is behind, where a longer batch is cheaper per line:
	// the consumer splits it into pipe calls of pipes.DefaultBatchSize
	// lines on every core.
	BatchLines int
	// Buffers is how many batches of one file may be between read and
	// applied: one being read, the others consumed at once (default one
	// more than the number of CPUs, at least 3; 1 reads and consumes in
	// turn).
	Buffers int
	// MaxLineBytes: longer lines are skipped and counted as bad
	// (default 64 KiB).
	MaxLineBytes int
	// Logf logs (default log.Printf).
	Logf func(format string, args ...any)
}

// Ingester follows the configured files.
type Ingester struct {
	opt Options
	// gate pairs tree contents with offsets: followers hold it shared
	// while they apply a batch and advance their offsets; Checkpoint holds
	// it exclusively, so no apply is half done while the snapshot is taken.
	gate sync.RWMutex

	mu        sync.Mutex
	followers map[string]*follower // by concrete path
	saved     map[string][]fileState

	wakeMu  sync.Mutex
	wakeDir map[string][]chan struct{}

	stats   Stats
	lastBad atomic.Int64 // unix nanos of the last bad-line log
}

// logBad logs a bad line, at most once every 10 s.
func (in *Ingester) logBad(what string, line []byte) {
	now := time.Now().UnixNano()
	if last := in.lastBad.Load(); now-last < int64(10*time.Second) || !in.lastBad.CompareAndSwap(last, now) {
		return
	}
	if len(line) > 120 {
		line = line[:120]
	}
	in.opt.Logf("ingest: bad line skipped (sampled at most every 10 s): %s: %q", what, line)
}

func (in *Ingester) tooLong(file string, end int64) {
	in.stats.TooLong.Add(1)
	in.logBad(fmt.Sprintf("%s: line longer than %d bytes ending at offset %d", file, in.opt.MaxLineBytes, end), nil)
}

// Stats are cumulative counters, safe to read at any time.
type Stats struct {
	Lines        atomic.Uint64 // lines handed to the consumer
	Bytes        atomic.Uint64
	TooLong      atomic.Uint64 // lines skipped for exceeding MaxLineBytes
	InvalidUTF8  atomic.Uint64 // lines skipped for invalid UTF-8
	ConsumeErrs  atomic.Uint64
	Rotations    atomic.Uint64 // renames and replacements noticed
	Truncations  atomic.Uint64 // copytruncates noticed
	Recovered    atomic.Uint64 // bytes read from rotated copies after a copytruncate
	LostTruncate atomic.Uint64 // copytruncates with no rotated copy found
}

// New validates options and restores offsets from a checkpoint.
func New(opt Options) (*Ingester, error) {
	if opt.Consumer == nil {
		return nil, fmt.Errorf("ingest: no consumer")
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 250 * time.Millisecond
	}
	if opt.RotateWait <= 0 {
		opt.RotateWait = 5 * time.Second
	}
	if opt.GlobInterval <= 0 {
		opt.GlobInterval = 2 * time.Second
	}
	if opt.BatchLines <= 0 {
		opt.BatchLines = 8192
	}
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = 64 << 10
	}
	if opt.Buffers <= 0 {
		opt.Buffers = defaultBuffers()
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	for i, f := range opt.Files {
		if _, err := filepath.Match(f.Path, ""); err != nil {
			return nil, fmt.Errorf("source %q: bad glob: %w", f.Path, err)
		}
		if opt.Files[i].Name == "" {
			opt.Files[i].Name = f.Path
		}
	}
	in := &Ingester{opt: opt, followers: map[string]*follower{}, wakeDir: map[string][]chan struct{}{}}
	if len(opt.Checkpoint) > 0 {
		var cp checkpoint
		if err := json.Unmarshal(opt.Checkpoint, &cp); err != nil {
			return nil, fmt.Errorf("cannot decode ingest checkpoint: %w", err)
		}
		if cp.Version != checkpointVersion {
			return nil, fmt.Errorf("ingest checkpoint version %d, want %d", cp.Version, checkpointVersion)
		}
		in.saved = cp.Files
	}
	return in, nil
}

// Stats returns the live counters.
func (in *Ingester) Stats() *Stats { return &in.stats }

// Run follows every source until ctx is done. When it returns, every line
// read has been applied and its offset recorded, so a final Checkpoint
// loses nothing.
func (in *Ingester) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		// Polling alone still works; notifications only cut latency.
		in.opt.Logf("ingest: file notifications unavailable, polling every %v: %v", in.opt.PollInterval, err)
		watcher = nil
	} else {
		defer watcher.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.watch(ctx, watcher)
		}()
	}
	watched := map[string]bool{}
	first := true
	expand := func() {
		for _, fs := range in.opt.Files {
			dir := filepath.Dir(fs.Path)
			if watcher != nil && !watched[dir] {
				if err := watcher.Add(dir); err == nil {
					watched[dir] = true
				}
			}
			for _, p := range in.expand(fs.Path) {
				in.mu.Lock()
				_, ok := in.followers[p]
				if !ok {
					fl := in.newFollower(fs, p, first)
					in.followers[p] = fl
					in.mu.Unlock()
					wg.Add(1)
					go func() {
						defer wg.Done()
						fl.run(ctx)
					}()
					continue
				}
				in.mu.Unlock()
			}
		}
		first = false
	}
	expand()
	t := time.NewTicker(in.opt.GlobInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			expand()
		}
	}
}

// expand returns the live files a path or glob names. Names that look like
// rotated copies (access.log.1, access.log-20240101, *.gz) are left out so
// a glob such as access.log* does not read rotated files a second time.
func (in *Ingester) expand(pattern string) []string {
	matches, err := filepath.Glob(pattern)
	if err != nil || len(matches) == 0 {
		if !hasMeta(pattern) {
			// A plain path is followed even before it exists.
			return []string{pattern}
		}
		return nil
	}
	if !hasMeta(pattern) {
		return matches
	}
	out := matches[:0]
	for _, m := range matches {
		if fi, err := os.Stat(m); err != nil || !fi.Mode().IsRegular() || looksRotated(filepath.Base(m)) {
			continue
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func (in *Ingester) watch(ctx context.Context, w *fsnotify.Watcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			in.wakeMu.Lock()
			for _, c := range in.wakeDir[filepath.Dir(ev.Name)] {
				select {
				case c <- struct{}{}:
				default:
				}
			}
			in.wakeMu.Unlock()
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
		}
	}
}

func (in *Ingester) register(dir string, c chan struct{}) {
	in.wakeMu.Lock()
	in.wakeDir[dir] = append(in.wakeDir[dir], c)
	in.wakeMu.Unlock()
}

// Checkpoint pauses applying, encodes every file's applied offset and calls
// write with it — typically tree.WriteSnapshot — so the tree and the
// offsets written correspond exactly.
func (in *Ingester) Checkpoint(write func(meta []byte) error) error {
	in.gate.Lock()
	defer in.gate.Unlock()
	return write(in.checkpointLocked())
}

// FileStatus is one followed file in /status.
type FileStatus struct {
	Path    string `json:"path"`
	File    string `json:"file"`
	Offset  int64  `json:"offset"`
	Size    int64  `json:"size"`
	Behind  int64  `json:"behind_bytes"`
	Rotated bool   `json:"rotated,omitempty"`
	// Error is why the path exists but cannot be read (File is empty).
	Error string `json:"error,omitempty"`
}

// Status describes sources and counters for /status.
func (in *Ingester) Status() map[string]any {
	in.gate.Lock()
	var files []FileStatus
	in.mu.Lock()
	for _, fl := range in.followers {
		if why := fl.openErr.Load(); why != nil {
			files = append(files, FileStatus{Path: fl.path, Error: *why})
		}
		for _, of := range fl.files() {
			fs := FileStatus{Path: fl.path, File: of.name, Offset: of.applied, Rotated: of != fl.cur}
			if fi, err := of.f.Stat(); err == nil {
				fs.Size = fi.Size()
				fs.Behind = max(0, fs.Size-of.applied)
			}
			files = append(files, fs)
		}
	}
	in.mu.Unlock()
	in.gate.Unlock()
	sort.Slice(files, func(i, j int) bool {
		return files[i].Path < files[j].Path || files[i].Path == files[j].Path && files[i].File < files[j].File
	})
	s := &in.stats
	return map[string]any{
		"files":                 files,
		"lines":                 s.Lines.Load(),
		"bytes":                 s.Bytes.Load(),
		"lines_too_long":        s.TooLong.Load(),
		"lines_invalid_utf8":    s.InvalidUTF8.Load(),
		"consume_errors":        s.ConsumeErrs.Load(),
		"rotations":             s.Rotations.Load(),
		"truncations":           s.Truncations.Load(),
		"recovered_bytes":       s.Recovered.Load(),
		"truncations_uncovered": s.LostTruncate.Load(),
	}
}
