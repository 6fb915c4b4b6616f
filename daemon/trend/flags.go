package trend

import (
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/flagutil"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"

	"github.com/canopy-dev/canopy/daemon/timespec"
)

// Flags are the trend store's process settings (-trend.*). The ~23 flags
// VictoriaMetrics' library registers itself on flag.CommandLine
// (-loggerLevel, -memory.allowedPercent, …) are not canopy's: InitLibrary
// sets those it needs from these.
type Flags struct {
	Interval  time.Duration
	Stale     time.Duration // 0: two ticks
	Retention Duration
	Memory    Bytes

	// libraryReady: InitLibrary ran (a daemon reloaded in-process opens
	// the store again; the library's logger must start only once).
	libraryReady bool
}

// RegisterFlags adds -trend.interval, -trend.retention and -trend.memory to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{Retention: Duration(365 * 24 * time.Hour), Memory: 256 << 20}
	fs.DurationVar(&f.Interval, "trend.interval", 10*time.Second, "how often the numbers that changed are written to the trend store")
	fs.DurationVar(&f.Stale, "trend.stale", 0, "how long a gauge's (average, max, min, last) sample stands when no new one comes; then it reads as null (default two -trend.interval)")
	fs.Var(&f.Retention, "trend.retention", "how long trend points are kept: a `duration` such as 90d or 1y (h, d, w, y suffixes)")
	fs.Var(&f.Memory, "trend.memory", "memory the embedded trend store's caches may use: a `size` such as 256MiB (KB, MB, GB, KiB, MiB, GiB suffixes)")
	return f
}

// Open opens the store the settings and the config's trend section ask
// for: the remote VictoriaMetrics when remote is set, else the embedded
// store in dataDir/trend.
func (f *Flags) Open(dataDir, remote, remoteRead string) (*Store, error) {
	var be Backend
	if remote != "" {
		r, err := OpenRemote(remote, remoteRead)
		if err != nil {
			return nil, err
		}
		be = r
	} else {
		if !f.libraryReady {
			if err := InitLibrary(int64(f.Memory)); err != nil {
				return nil, err
			}
			f.libraryReady = true
		}
		// The writer makes each tick searchable at once (in-memory parts);
		// the library writes those to disk every 5 s. Shorter ticks get a
		// shorter flush (2 s at least, the library's floor) so a crash
		// still loses at most the last tick.
		storage.SetDataFlushInterval(min(5*time.Second, max(2*time.Second, f.Interval/2)))
		e, err := OpenEmbedded(filepath.Join(dataDir, "trend"), time.Duration(f.Retention))
		if err != nil {
			return nil, err
		}
		be = e
	}
	return New(Options{Backend: be, Interval: f.Interval, Stale: f.Stale, Retention: time.Duration(f.Retention)}), nil
}

// Duration is a positive flag value read by timespec.ParseDuration (Go
// durations plus d, w, mon and y).
type Duration time.Duration

func (d *Duration) String() string {
	v := time.Duration(*d)
	switch {
	case v != 0 && v%(365*24*time.Hour) == 0:
		return strconv.FormatInt(int64(v/(365*24*time.Hour)), 10) + "y"
	case v != 0 && v%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return v.String()
}

// Set implements flag.Value.
func (d *Duration) Set(s string) error {
	v, err := timespec.ParseDuration(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("bad duration %q: must be positive", s)
	}
	*d = Duration(v)
	return nil
}

// Bytes is a flag value for a size with an optional KB/MB/GB/KiB/MiB/GiB
// suffix.
type Bytes int64

func (b *Bytes) String() string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v := int64(*b); v != 0 && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

// Set implements flag.Value.
func (b *Bytes) Set(s string) error {
	n, err := flagutil.ParseBytes(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return fmt.Errorf("bad size %q: want e.g. 256MiB", s)
	}
	*b = Bytes(n)
	return nil
}
