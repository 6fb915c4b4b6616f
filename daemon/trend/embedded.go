package trend

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/encoding/zstd"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/logger"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
)

// InitLibrary prepares VictoriaMetrics' process-wide settings. Call it once,
// before opening an embedded store. The library keeps its settings as flags
// on flag.CommandLine, which canopy never parses from the command line
// (canopyd has its own FlagSet, so -h shows only canopy's flags): they are
// set here from canopy's own. memoryBytes caps the library's caches, which
// otherwise take a share of all RAM (60 %); the library logs only warnings
// and errors. A test binary may still pass -memory.allowedBytes,
// -memory.allowedPercent or -loggerLevel, which then win.
func InitLibrary(memoryBytes int64) error {
	parseLibraryFlags()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if memoryBytes > 0 && !set["memory.allowedBytes"] && !set["memory.allowedPercent"] {
		if err := flag.Set("memory.allowedBytes", strconv.FormatInt(memoryBytes, 10)); err != nil {
			return fmt.Errorf("cannot cap trend storage memory: %w", err)
		}
	}
	if !set["loggerLevel"] {
		if err := flag.Set("loggerLevel", "WARN"); err != nil {
			return fmt.Errorf("cannot set the storage log level: %w", err)
		}
	}
	logger.Init()
	// Below this much free space the library stops writing (read-only
	// mode) instead of panicking on ENOSPC mid-flush, which would kill
	// canopyd and, under systemd, crash-loop it on a full disk.
	storage.SetFreeDiskSpaceLimit(MinFreeDisk)
	return nil
}

// MinFreeDisk is the free space on the trend store's disk below which it
// refuses points (ErrDiskFull) until space is freed.
const MinFreeDisk = 16 << 20

// ErrDiskFull is wrapped by Add's error while the embedded store's disk has
// less than MinFreeDisk free: the points are not stored (and not counted as
// written); the store retries them and drops live ticks once its queue is
// full.
var ErrDiskFull = errors.New("trend storage disk is full")

// parseLibraryFlags marks flag.CommandLine parsed, with no arguments, when
// nothing (a test binary's flag.Parse) has: the library refuses to read its
// settings before, and canopy's binaries never parse it themselves.
func parseLibraryFlags() {
	if !flag.Parsed() {
		_ = flag.CommandLine.Parse(nil)
	}
}

// Embedded is the backend that keeps the history in VictoriaMetrics'
// lib/storage inside the data folder.
type Embedded struct {
	dir string
	st  *storage.Storage

	mu   sync.Mutex    // guards bufs
	bufs []*insertBufs // one per concurrent inserter
}

// maxSearchSeries bounds one read so a "**" on a huge tree cannot exhaust
// memory.
const maxSearchSeries = 100_000

// OpenEmbedded opens (creating) the store in dir. An unwritable folder or
// one the storage cannot read is an error that says so, instead of the
// library's panic deep inside.
func OpenEmbedded(dir string, retention time.Duration) (_ *Embedded, err error) {
	parseLibraryFlags()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create trend storage folder %q: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return nil, fmt.Errorf("trend storage folder %q is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if err := checkStorageFolder(dir); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot open trend storage at %q (corrupt? move the folder away to start empty): %v", dir, r)
		}
	}()
	st := storage.MustOpenStorage(dir, storage.OpenOptions{
		Retention: retention,
		// Series in a tree are long-lived; the per-day index only pays off
		// with heavy churn and costs ingest time and disk.
		DisablePerDayIndex: true,
	})
	return &Embedded{dir: dir, st: st}, nil
}

// ReadOnly reports whether the store refuses points for lack of disk space.
func (e *Embedded) ReadOnly() bool { return e.st.IsReadOnly() }

// checkStorageFolder catches what the library would turn into a
// process exit (logger.Fatalf) rather than a recoverable panic: files where
// folders belong and unreadable part descriptions.
func checkStorageFolder(dir string) error {
	for _, sub := range []string{"data", "indexdb", "metadata", "snapshots", "cache"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot read trend storage at %q: %w", dir, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("trend storage at %q is corrupt: %q is not a folder (move the folder away to start empty)", dir, sub)
		}
	}
	// The library opens partitions in parallel goroutines and panics there
	// on a damaged part, which no recover can catch; so check every listed
	// part the way it will: its header parses and its metaindex
	// decompresses.
	lists, _ := filepath.Glob(filepath.Join(dir, "data", "*", "*", "parts.json"))
	legacy, _ := filepath.Glob(filepath.Join(dir, "indexdb", "*", "parts.json"))
	for _, list := range append(lists, legacy...) {
		if err := checkParts(dir, list); err != nil {
			return err
		}
	}
	return nil
}

// checkParts checks the parts a parts.json lists: a list of part names
// (indexdb) or {"Small": [...], "Big": [...]} naming parts in the sibling
// small and big folders of one partition.
func checkParts(dir, list string) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("trend storage at %q is corrupt: %s (move the folder away to start empty)", dir, fmt.Sprintf(format, args...))
	}
	b, err := os.ReadFile(list)
	if err != nil {
		return fmt.Errorf("cannot read trend storage file %q: %w", list, err)
	}
	parent := filepath.Dir(list)
	var parts, files []string
	var names []string
	var split struct{ Small, Big []string }
	switch {
	case json.Unmarshal(b, &names) == nil:
		for _, n := range names {
			parts = append(parts, filepath.Join(parent, n))
		}
		files = []string{"index.bin", "items.bin", "lens.bin"}
	case json.Unmarshal(b, &split) == nil:
		partition := filepath.Base(parent)
		data := filepath.Dir(filepath.Dir(parent))
		for _, n := range split.Small {
			parts = append(parts, filepath.Join(data, "small", partition, n))
		}
		for _, n := range split.Big {
			parts = append(parts, filepath.Join(data, "big", partition, n))
		}
		files = []string{"index.bin", "timestamps.bin", "values.bin"}
	default:
		return corrupt("%q is not a valid part list", list)
	}
	for _, part := range parts {
		hdr, err := os.ReadFile(filepath.Join(part, "metadata.json"))
		if err != nil {
			return corrupt("part %q has no readable metadata.json: %v", part, err)
		}
		if !json.Valid(hdr) {
			return corrupt("%q is not valid JSON", filepath.Join(part, "metadata.json"))
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(part, f)); err != nil {
				return corrupt("part %q lacks %s", part, f)
			}
		}
		mi, err := os.ReadFile(filepath.Join(part, "metaindex.bin"))
		if err != nil {
			return corrupt("part %q lacks a readable metaindex.bin: %v", part, err)
		}
		if _, err := zstd.Decompress(nil, mi); err != nil {
			return corrupt("%q does not decompress: %v", filepath.Join(part, "metaindex.bin"), err)
		}
	}
	return nil
}

// Name implements Backend.
func (e *Embedded) Name() string { return "embedded" }

// Dir returns the storage folder.
func (e *Embedded) Dir() string { return e.dir }

// Add implements Backend. Large batches are added by one goroutine per
// core: the library's insert path is single-threaded per call, and it
// allows as many concurrent calls as there are cores.
func (e *Embedded) Add(_ context.Context, rows []Row) error {
	if e.st.IsReadOnly() {
		return fmt.Errorf("cannot store %d points in %q: less than %d MiB free: %w", len(rows), e.dir, MinFreeDisk>>20, ErrDiskFull)
	}
	parts := min(runtime.GOMAXPROCS(0), len(rows)/4096)
	if parts <= 1 {
		e.addChunk(0, rows)
		return nil
	}
	var wg sync.WaitGroup
	per := (len(rows) + parts - 1) / parts
	for i := 0; i < parts; i++ {
		chunk := rows[i*per : min(len(rows), (i+1)*per)]
		wg.Go(func() { e.addChunk(i, chunk) })
	}
	wg.Wait()
	return nil
}

// insertBufs are one inserter's reusable buffers.
type insertBufs struct {
	lock   sync.Mutex // Add may also be called concurrently (tests)
	mrs    []storage.MetricRow
	names  []byte
	offs   []int
	labels []prompb.Label
}

func (e *Embedded) addChunk(slot int, rows []Row) {
	e.mu.Lock()
	for len(e.bufs) <= slot {
		e.bufs = append(e.bufs, &insertBufs{})
	}
	b := e.bufs[slot]
	e.mu.Unlock()
	b.lock.Lock()
	defer b.lock.Unlock()
	b.mrs, b.names, b.offs = b.mrs[:0], b.names[:0], b.offs[:0]
	// Names go to one buffer; slices are cut after, since append may move it.
	for i := range rows {
		b.offs = append(b.offs, len(b.names))
		b.labels = appendLabels(b.labels[:0], &rows[i])
		b.names = storage.MarshalMetricNameRaw(b.names, b.labels)
	}
	b.offs = append(b.offs, len(b.names))
	for i := range rows {
		b.mrs = append(b.mrs, storage.MetricRow{
			MetricNameRaw: b.names[b.offs[i]:b.offs[i+1]],
			Timestamp:     rows[i].TS,
			Value:         storedValue(&rows[i]),
		})
	}
	e.st.AddRows(b.mrs, 64)
}

func appendLabels(dst []prompb.Label, r *Row) []prompb.Label {
	if r.Kind == Marker {
		return append(dst,
			prompb.Label{Name: "__name__", Value: metricMarkers},
			prompb.Label{Name: labelKey, Value: r.Key},
			prompb.Label{Name: labelText, Value: r.Text})
	}
	return append(dst,
		prompb.Label{Name: "__name__", Value: metricNumbers},
		prompb.Label{Name: labelKey, Value: r.Key},
		prompb.Label{Name: labelKind, Value: r.Kind.String()})
}

func (e *Embedded) filters(metric string, m *Matcher) (*storage.TagFilters, error) {
	tfs := storage.NewTagFilters()
	if err := tfs.Add(nil, []byte(metric), false, false); err != nil {
		return nil, err
	}
	if m != nil {
		val := m.Pattern
		if !m.Exact {
			val = m.Regexp
		}
		if err := tfs.Add([]byte(labelKey), []byte(val), false, !m.Exact); err != nil {
			return nil, fmt.Errorf("bad key %q: %w", m.Pattern, err)
		}
	}
	return tfs, nil
}

func deadlineFor(ctx context.Context) uint64 {
	d := time.Now().Add(time.Minute)
	if dl, ok := ctx.Deadline(); ok {
		d = dl
	}
	return uint64(d.Unix())
}

// search calls fn, in the storage's order, for every block of the series
// selected in [from, until]. Blocks are read here and decoded by one
// goroutine per core: decoding is most of a long query.
func (e *Embedded) search(ctx context.Context, metric string, m *Matcher, from, until int64,
	fn func(mn *storage.MetricName, ts []int64, vs []float64)) (err error) {
	// A damaged data file makes the library panic while reading; the
	// query fails, the daemon goes on.
	defer func() {
		if r := recover(); r != nil {
			err = damagedError(e.dir, r)
		}
	}()
	tfs, err := e.filters(metric, m)
	if err != nil {
		return err
	}
	tr := storage.TimeRange{MinTimestamp: from, MaxTimestamp: until}
	var s storage.Search
	s.Init(nil, e.st, []*storage.TagFilters{tfs}, tr, maxSearchSeries, deadlineFor(ctx))
	defer s.MustClose()

	type block struct {
		mn  *storage.MetricName
		blk *storage.Block
		ts  []int64
		vs  []float64
		err error
	}
	jobs := make(chan *block, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for b := range jobs {
				func() {
					defer func() {
						if r := recover(); r != nil {
							b.err = damagedError(e.dir, r)
						}
					}()
					if err := b.blk.UnmarshalData(); err != nil {
						b.err = fmt.Errorf("cannot decode block in trend storage: %w", err)
						return
					}
					// Fresh, exactly sized slices: Read keeps them.
					b.ts, b.vs = b.blk.AppendRowsWithTimeRangeFilter(nil, nil, tr)
				}()
				b.blk = nil
			}
		})
	}
	var blocks []*block
	err = func() error {
		defer close(jobs)
		var mn *storage.MetricName
		var lastName []byte
		for s.NextMetricBlock() {
			mbr := s.MetricBlockRef
			if mn == nil || !slices.Equal(lastName, mbr.MetricName) {
				mn = &storage.MetricName{}
				if err := mn.Unmarshal(mbr.MetricName); err != nil {
					return fmt.Errorf("cannot decode series name in trend storage: %w", err)
				}
				lastName = append(lastName[:0], mbr.MetricName...)
			}
			b := &block{mn: mn, blk: &storage.Block{}}
			mbr.BlockRef.MustReadBlock(b.blk)
			blocks = append(blocks, b)
			jobs <- b
		}
		if err := s.Error(); err != nil {
			return fmt.Errorf("cannot search trend storage: %w", err)
		}
		return nil
	}()
	wg.Wait()
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if b.err != nil {
			return b.err
		}
		if len(b.ts) > 0 {
			fn(b.mn, b.ts, b.vs)
		}
	}
	return ctx.Err()
}

func damagedError(dir string, r any) error {
	return fmt.Errorf("cannot read trend storage at %q (damaged file?): %v", dir, r)
}

// Read implements Backend.
func (e *Embedded) Read(ctx context.Context, m *Matcher, from, until int64) ([]RawSeries, error) {
	type acc struct {
		rs     RawSeries
		lastTS int64
		runs   []run
		n      int
	}
	byKey := map[string]*acc{}
	err := e.search(ctx, metricNumbers, m, from, until, func(mn *storage.MetricName, ts []int64, vs []float64) {
		key := string(mn.GetTagValue(labelKey))
		a := byKey[key]
		if a == nil {
			a = &acc{rs: RawSeries{Key: key}, lastTS: math.MinInt64}
			byKey[key] = a
		}
		// A key whose action changed has two series; the newest kind wins.
		if last := ts[len(ts)-1]; last >= a.lastTS {
			a.rs.Kind = parseKind(string(mn.GetTagValue(labelKind)))
			a.lastTS = last
		}
		// Blocks are kept apart and joined once, in order, at the end:
		// growing one slice block by block would copy a year of points
		// many times.
		a.runs = append(a.runs, run{ts, vs})
		a.n += len(ts)
	})
	if err != nil {
		return nil, err
	}
	out := make([]RawSeries, 0, len(byKey))
	for _, a := range byKey {
		a.rs.TS, a.rs.Values = dropRewrites(joinRuns(a.runs, a.n))
		out = append(out, a.rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// run is one storage block's points of a series, sorted by time.
type run struct {
	ts []int64
	vs []float64
}

// joinRuns puts a series' runs in time order. Blocks arrive grouped by
// partition and part, so runs may come out of order and a few may overlap
// (parts not merged yet). Runs are ordered by start; a cluster of
// overlapping runs is sorted on its own, the rest is copied: close to
// linear time, where sorting a year of points would cost most of a query.
func joinRuns(runs []run, n int) ([]int64, []float64) {
	slices.SortStableFunc(runs, func(a, b run) int { return cmp.Compare(a.ts[0], b.ts[0]) })
	ts := make([]int64, 0, n)
	vs := make([]float64, 0, n)
	type point struct {
		t int64
		v float64
	}
	var tmp []point
	for i := 0; i < len(runs); {
		j, end := i+1, runs[i].ts[len(runs[i].ts)-1]
		for j < len(runs) && runs[j].ts[0] <= end {
			end = max(end, runs[j].ts[len(runs[j].ts)-1])
			j++
		}
		if j == i+1 {
			ts = append(ts, runs[i].ts...)
			vs = append(vs, runs[i].vs...)
			i = j
			continue
		}
		tmp = tmp[:0]
		for _, r := range runs[i:j] {
			for k := range r.ts {
				tmp = append(tmp, point{r.ts[k], r.vs[k]})
			}
		}
		slices.SortStableFunc(tmp, func(a, b point) int { return cmp.Compare(a.t, b.t) })
		for _, p := range tmp {
			ts = append(ts, p.t)
			vs = append(vs, p.v)
		}
		i = j
	}
	return ts, vs
}

// dropRewrites keeps one point per timestamp of a sorted series. The
// storage keeps every sample it is given, and a point written twice is a
// rewrite, not a second sample: a replay run again over the same log (after
// it was killed, say) writes the same points at the lines' own times, and a
// gauge's fn=sum or avg must not count them twice. canopy never writes two
// values of one key for the same millisecond otherwise.
func dropRewrites(ts []int64, vs []float64) ([]int64, []float64) {
	n := 0
	for i := range ts {
		if n > 0 && ts[i] == ts[n-1] {
			continue
		}
		ts[n], vs[n] = ts[i], vs[i]
		n++
	}
	return ts[:n], vs[:n]
}

// sortPoints orders a series' points by time. Points usually arrive in
// order, so the check is all that runs.
func sortPoints(rs *RawSeries) {
	if slices.IsSorted(rs.TS) {
		return
	}
	idx := make([]int, len(rs.TS))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rs.TS[idx[a]] < rs.TS[idx[b]] })
	ts := make([]int64, len(idx))
	vs := make([]float64, len(idx))
	for i, k := range idx {
		ts[i], vs[i] = rs.TS[k], rs.Values[k]
	}
	rs.TS, rs.Values = ts, vs
}

// Markers implements Backend.
func (e *Embedded) Markers(ctx context.Context, m *Matcher, from, until int64) ([]MarkerEvent, error) {
	var out []MarkerEvent
	err := e.search(ctx, metricMarkers, m, from, until, func(mn *storage.MetricName, ts []int64, _ []float64) {
		key := string(mn.GetTagValue(labelKey))
		text := string(mn.GetTagValue(labelText))
		for _, t := range ts {
			out = append(out, MarkerEvent{Key: key, T: t, Text: text})
		}
	})
	if err != nil {
		return nil, err
	}
	sortMarkers(out)
	return out, nil
}

func sortMarkers(ms []MarkerEvent) {
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].T != ms[j].T {
			return ms[i].T < ms[j].T
		}
		return ms[i].Key < ms[j].Key
	})
}

// Keys implements Backend.
func (e *Embedded) Keys(ctx context.Context, m *Matcher, from, until int64) ([]string, error) {
	tfs, err := e.filters(metricNumbers, m)
	if err != nil {
		return nil, err
	}
	tr := storage.TimeRange{MinTimestamp: from, MaxTimestamp: until}
	keys, err := e.st.SearchLabelValues(nil, labelKey, []*storage.TagFilters{tfs}, tr, maxSearchSeries, maxSearchSeries, deadlineFor(ctx))
	if err != nil {
		return nil, fmt.Errorf("cannot list keys in trend storage: %w", err)
	}
	sort.Strings(keys)
	return keys, nil
}

// Flush implements Backend: added rows become searchable (not yet durable;
// the library writes them to disk within about seven seconds).
func (e *Embedded) Flush(context.Context) error {
	e.st.DebugFlush()
	return nil
}

// Close implements Backend. After a read hit a damaged file the library's
// reference counts are off and closing panics; that is reported, not fatal.
func (e *Embedded) Close() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("trend storage at %q did not close cleanly: %v", e.dir, r)
		}
	}()
	e.st.MustClose()
	return nil
}

// DiskBytes returns the size of the storage folder.
func (e *Embedded) DiskBytes() int64 {
	var n int64
	_ = filepath.WalkDir(e.dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// ForceMerge merges all parts (benchmarks measure disk after merge).
func (e *Embedded) ForceMerge() error {
	return e.st.ForceMergePartitions("")
}
