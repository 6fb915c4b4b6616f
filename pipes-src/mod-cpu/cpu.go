// Package cpu is the built-in collector module "cpu": CPU time as
// percentages (user, nice, system, idle, iowait, irq, softirq, steal) from
// /proc/stat, over the interval since the previous collection — they sum to
// 100. Needs grant { read = "/proc" }.
package cpu

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"

	"github.com/canopy-dev/canopy/sdk/collector"
)

// Fields of /proc/stat's cpu line, in order (guest time is already in user).
var Fields = []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

type state struct {
	root      string
	prev, cur [8]uint64
	pct       [8]float64
	havePrev  bool
}

// Module returns the cpu module.
func Module() collector.Module {
	s := &state{}
	return collector.Module{
		Init: func(params map[string]string) ([]collector.Metric, error) {
			s.root = params["root"]
			s.havePrev = false
			// A baseline, so the first collection covers its interval
			// rather than the time since boot.
			if err := s.collect(); err != nil {
				return nil, err
			}
			ms := make([]collector.Metric, len(Fields))
			for i, f := range Fields {
				i := i
				ms[i] = collector.Metric{Name: f, ValueType: "float", Units: "%", Slope: "both",
					Format: "%.1f", Groups: "cpu", Description: "Percent of CPU time in " + f,
					CallBack: func(string) (any, error) { return s.pct[i], nil }}
			}
			return ms, nil
		},
		Collect: s.collect,
	}
}

func (s *state) collect() error {
	b, err := os.ReadFile(s.root + "/proc/stat")
	if err != nil {
		return err
	}
	cur, err := Parse(b)
	if err != nil {
		return err
	}
	s.prev, s.cur = s.cur, cur
	base := [8]uint64{}
	if s.havePrev {
		base = s.prev
	}
	s.havePrev = true
	s.pct = Percent(base, cur)
	return nil
}

// Parse reads the aggregate cpu line of /proc/stat.
func Parse(b []byte) ([8]uint64, error) {
	var v [8]uint64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 5 || string(f[0]) != "cpu" {
			continue
		}
		for i := 0; i < 8 && i+1 < len(f); i++ {
			n, err := strconv.ParseUint(string(f[i+1]), 10, 64)
			if err != nil {
				return v, errors.New("bad number in /proc/stat cpu line")
			}
			v[i] = n
		}
		return v, nil
	}
	return v, errors.New("/proc/stat has no cpu line")
}

// Percent returns each field's share of the time between two readings.
// A counter that went backwards (a CPU went offline) counts as 0.
func Percent(prev, cur [8]uint64) [8]float64 {
	var d [8]float64
	var total float64
	for i := range cur {
		if cur[i] > prev[i] {
			d[i] = float64(cur[i] - prev[i])
			total += d[i]
		}
	}
	if total == 0 {
		d[3] = 100 // nothing ran: idle
		return d
	}
	for i := range d {
		d[i] = d[i] * 100 / total
	}
	return d
}
