// Package net is the built-in collector module "net": bytes, packets,
// errors and drops in and out per interface, per second, from
// /proc/net/dev. Metrics are named IFACE/rx_bytes and land in the tree at
// net,<host>,IFACE,rx_bytes. Needs grant { read = "/proc" }.
//
// Params: interfaces (comma list; default all), exclude (comma list).
package net

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/sdk/collector"
)

// Counters are the per-interface columns used, in /proc/net/dev order
// (receive columns 0-3, transmit columns 8-11).
var Counters = []struct {
	Name  string
	Col   int
	Units string
}{
	{"rx_bytes", 0, "bytes/sec"}, {"rx_packets", 1, "packets/sec"}, {"rx_errs", 2, "errors/sec"}, {"rx_drop", 3, "drops/sec"},
	{"tx_bytes", 8, "bytes/sec"}, {"tx_packets", 9, "packets/sec"}, {"tx_errs", 10, "errors/sec"}, {"tx_drop", 11, "drops/sec"},
}

// Parse reads /proc/net/dev into 16 counters per interface.
func Parse(b []byte) (map[string][16]uint64, error) {
	out := map[string][16]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 16 {
			continue
		}
		var v [16]uint64
		for i := range v {
			n, err := strconv.ParseUint(string(f[i]), 10, 64)
			if err != nil {
				return nil, errors.New("bad number in /proc/net/dev")
			}
			v[i] = n
		}
		out[string(bytes.TrimSpace(name))] = v
	}
	if len(out) == 0 {
		return nil, errors.New("/proc/net/dev lists no interface")
	}
	return out, nil
}

type state struct {
	root        string
	now         func() time.Time
	prev, cur   map[string][16]uint64
	prevT, curT time.Time
}

// rate is the per-second change of counter col of iface over the last
// interval; a counter that went backwards (reset, wrap) reads as 0.
func (s *state) rate(iface string, col int) (any, error) {
	p, ok1 := s.prev[iface]
	c, ok2 := s.cur[iface]
	dt := s.curT.Sub(s.prevT).Seconds()
	if !ok1 || !ok2 || dt <= 0 {
		return nil, errors.New("no two readings yet")
	}
	if c[col] < p[col] {
		return 0.0, nil
	}
	return float64(c[col]-p[col]) / dt, nil
}

func (s *state) read() error {
	b, err := os.ReadFile(s.root + "/proc/net/dev")
	if err != nil {
		return err
	}
	v, err := Parse(b)
	if err != nil {
		return err
	}
	s.prev, s.prevT = s.cur, s.curT
	s.cur, s.curT = v, s.now()
	return nil
}

func list(s string) map[string]bool {
	out := map[string]bool{}
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out[x] = true
		}
	}
	return out
}

// Module returns the net module; now is the clock (time.Now when nil).
func Module(now func() time.Time) collector.Module {
	if now == nil {
		now = time.Now
	}
	s := &state{now: now}
	return collector.Module{
		Init: func(params map[string]string) ([]collector.Metric, error) {
			s.root = params["root"]
			s.prev, s.cur = nil, nil
			if err := s.read(); err != nil { // the baseline for the first rates
				return nil, err
			}
			only, exclude := list(params["interfaces"]), list(params["exclude"])
			var ms []collector.Metric
			for iface := range s.cur {
				if len(only) > 0 && !only[iface] || exclude[iface] || strings.ContainsAny(iface, "/,%") {
					continue
				}
				for _, c := range Counters {
					iface, col := iface, c.Col
					ms = append(ms, collector.Metric{Name: iface + "/" + c.Name, ValueType: "double", Units: c.Units,
						Slope: "both", Groups: "network", Format: "%.1f",
						Description: c.Name + " per second on " + iface,
						CallBack:    func(string) (any, error) { return s.rate(iface, col) }})
				}
			}
			return ms, nil
		},
		Collect: s.read,
	}
}
