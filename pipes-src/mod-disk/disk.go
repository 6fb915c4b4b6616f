// Package disk is the built-in collector module "disk": I/O per block
// device per second from /proc/diskstats (io/DEV/reads, writes,
// read_bytes, write_bytes, busy_percent) and space per mount point through
// the agent's statfs call (space/LABEL/total, free, avail, used_percent;
// "/" is labelled root). Needs grant { read = "/proc" statfs = "/" }.
//
// Params: mounts (comma list of mount points, default "/"), devices (comma
// list; default every whole disk, without loop and ram devices).
package disk

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/sdk/collector"
	"github.com/canopy-dev/canopy/sdk/collectorabi"
)

// IO is one device's counters from /proc/diskstats.
type IO struct {
	Reads, ReadSectors, Writes, WriteSectors, BusyMs uint64
}

// ParseDiskstats reads /proc/diskstats.
func ParseDiskstats(b []byte) (map[string]IO, error) {
	out := map[string]IO{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 14 {
			continue
		}
		var n [11]uint64
		for i := range n {
			v, err := strconv.ParseUint(string(f[3+i]), 10, 64)
			if err != nil {
				return nil, errors.New("bad number in /proc/diskstats")
			}
			n[i] = v
		}
		out[string(f[2])] = IO{Reads: n[0], ReadSectors: n[2], Writes: n[4], WriteSectors: n[6], BusyMs: n[9]}
	}
	return out, nil
}

// WholeDisks drops loop and ram devices and partitions of listed disks.
func WholeDisks(devs map[string]IO) []string {
	var out []string
	for name := range devs {
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		if isPartition(name, devs) {
			continue
		}
		out = append(out, name)
	}
	return out
}

func isPartition(name string, devs map[string]IO) bool {
	base := strings.TrimRight(name, "0123456789")
	if base == name || base == "" {
		return false
	}
	if _, ok := devs[base]; ok { // sda1 of sda
		return true
	}
	if strings.HasSuffix(base, "p") { // nvme0n1p1 of nvme0n1, mmcblk0p1
		if _, ok := devs[strings.TrimSuffix(base, "p")]; ok {
			return true
		}
	}
	return false
}

// Label names a mount point in metric names: "/" is root, "/var/log" is
// var_log.
func Label(mount string) string {
	if mount == "/" {
		return "root"
	}
	return strings.ReplaceAll(strings.Trim(mount, "/"), "/", "_")
}

type state struct {
	root        string
	now         func() time.Time
	prev, cur   map[string]IO
	prevT, curT time.Time
	space       map[string]*collectorabi.Statfs
	spaceErr    map[string]error
	statfs      func(string) (*collectorabi.Statfs, error)
}

func (s *state) read() error {
	b, err := os.ReadFile(s.root + "/proc/diskstats")
	if err != nil {
		return err
	}
	v, err := ParseDiskstats(b)
	if err != nil {
		return err
	}
	s.prev, s.prevT = s.cur, s.curT
	s.cur, s.curT = v, s.now()
	return nil
}

func (s *state) rate(dev string, get func(IO) uint64, scale float64) (any, error) {
	p, ok1 := s.prev[dev]
	c, ok2 := s.cur[dev]
	dt := s.curT.Sub(s.prevT).Seconds()
	if !ok1 || !ok2 || dt <= 0 {
		return nil, errors.New("no two readings yet")
	}
	if get(c) < get(p) {
		return 0.0, nil
	}
	return float64(get(c)-get(p)) * scale / dt, nil
}

// Module returns the disk module; now and statfs default to the real clock
// and the agent's statfs call.
func Module(now func() time.Time, statfs func(string) (*collectorabi.Statfs, error)) collector.Module {
	if now == nil {
		now = time.Now
	}
	if statfs == nil {
		statfs = collector.Statfs
	}
	s := &state{now: now, statfs: statfs, space: map[string]*collectorabi.Statfs{}, spaceErr: map[string]error{}}
	var mounts []string
	return collector.Module{
		Init: func(params map[string]string) ([]collector.Metric, error) {
			s.root = params["root"]
			s.prev, s.cur = nil, nil
			var ms []collector.Metric
			if err := s.read(); err == nil { // no diskstats (containers): space only
				devs := WholeDisks(s.cur)
				if want := params["devices"]; want != "" {
					devs = strings.Split(want, ",")
				}
				for _, d := range devs {
					d := strings.TrimSpace(d)
					if d == "" || strings.ContainsAny(d, "/,%") {
						continue
					}
					add := func(name, units string, get func(IO) uint64, scale float64) {
						ms = append(ms, collector.Metric{Name: "io/" + d + "/" + name, ValueType: "double", Units: units,
							Slope: "both", Groups: "disk", Format: "%.1f", Description: name + " of " + d,
							CallBack: func(string) (any, error) { return s.rate(d, get, scale) }})
					}
					add("reads", "reads/sec", func(x IO) uint64 { return x.Reads }, 1)
					add("writes", "writes/sec", func(x IO) uint64 { return x.Writes }, 1)
					add("read_bytes", "bytes/sec", func(x IO) uint64 { return x.ReadSectors }, 512)
					add("write_bytes", "bytes/sec", func(x IO) uint64 { return x.WriteSectors }, 512)
					add("busy_percent", "%", func(x IO) uint64 { return x.BusyMs }, 0.1) // ms/s → %
				}
			}
			mounts = mounts[:0]
			mp := params["mounts"]
			if mp == "" {
				mp = "/"
			}
			for _, m := range strings.Split(mp, ",") {
				m := strings.TrimSpace(m)
				if m == "" {
					continue
				}
				mounts = append(mounts, m)
				l := Label(m)
				add := func(name, units string, get func(*collectorabi.Statfs) float64) {
					ms = append(ms, collector.Metric{Name: "space/" + l + "/" + name, ValueType: "double", Units: units,
						Slope: "both", Groups: "disk", Description: name + " of " + m,
						CallBack: func(string) (any, error) {
							st := s.space[m]
							if st == nil {
								return nil, s.spaceErr[m]
							}
							return get(st), nil
						}})
				}
				add("total", "bytes", func(x *collectorabi.Statfs) float64 { return float64(x.TotalBytes) })
				add("free", "bytes", func(x *collectorabi.Statfs) float64 { return float64(x.FreeBytes) })
				add("avail", "bytes", func(x *collectorabi.Statfs) float64 { return float64(x.AvailBytes) })
				add("used_percent", "%", func(x *collectorabi.Statfs) float64 {
					used := float64(x.TotalBytes - x.FreeBytes)
					if used+float64(x.AvailBytes) == 0 {
						return 0
					}
					// As df: used / (used + available to users).
					return used * 100 / (used + float64(x.AvailBytes))
				})
			}
			return ms, nil
		},
		Collect: func() error {
			_ = s.read()
			for _, m := range mounts {
				st, err := s.statfs(m)
				if err != nil {
					st = nil
				}
				s.space[m], s.spaceErr[m] = st, err
			}
			return nil
		},
	}
}
