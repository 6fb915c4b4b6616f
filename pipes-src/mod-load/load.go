// Package load is the built-in collector module "load": load averages and
// process counts from /proc/loadavg, and the CPU count from /proc/stat.
// Needs grant { read = "/proc" }.
package load

import (
	"bytes"
	"errors"
	"os"
	"strconv"

	"github.com/canopy-dev/canopy/sdk/collector"
)

// Values is one reading.
type Values struct {
	One, Five, Fifteen float64
	Running, Total     float64
	CPUs               float64
}

// Parse reads /proc/loadavg ("0.20 0.18 0.12 1/80 11206").
func Parse(b []byte) (Values, error) {
	var v Values
	f := bytes.Fields(b)
	if len(f) < 4 {
		return v, errors.New("/proc/loadavg is too short")
	}
	var err error
	nums := []*float64{&v.One, &v.Five, &v.Fifteen}
	for i, p := range nums {
		if *p, err = strconv.ParseFloat(string(f[i]), 64); err != nil {
			return v, errors.New("bad number in /proc/loadavg")
		}
	}
	run, tot, ok := bytes.Cut(f[3], []byte("/"))
	if !ok {
		return v, errors.New("bad process count in /proc/loadavg")
	}
	v.Running, _ = strconv.ParseFloat(string(run), 64)
	v.Total, _ = strconv.ParseFloat(string(tot), 64)
	return v, nil
}

// CountCPUs counts the cpuN lines of /proc/stat.
func CountCPUs(b []byte) float64 {
	n := 0
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 3 && bytes.HasPrefix(l, []byte("cpu")) && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	return float64(n)
}

// Module returns the load module.
func Module() collector.Module {
	var root string
	var cur Values
	metric := func(name, units, desc string, get func() float64) collector.Metric {
		return collector.Metric{Name: name, ValueType: "float", Units: units, Slope: "both", Groups: "load",
			Description: desc, Format: "%.2f", CallBack: func(string) (any, error) { return get(), nil }}
	}
	return collector.Module{
		Init: func(params map[string]string) ([]collector.Metric, error) {
			root = params["root"]
			return []collector.Metric{
				metric("one", "", "One-minute load average", func() float64 { return cur.One }),
				metric("five", "", "Five-minute load average", func() float64 { return cur.Five }),
				metric("fifteen", "", "Fifteen-minute load average", func() float64 { return cur.Fifteen }),
				metric("proc_run", "processes", "Runnable processes", func() float64 { return cur.Running }),
				metric("proc_total", "processes", "Processes and threads", func() float64 { return cur.Total }),
				metric("cpu_num", "CPUs", "Number of CPUs", func() float64 { return cur.CPUs }),
			}, nil
		},
		Collect: func() error {
			b, err := os.ReadFile(root + "/proc/loadavg")
			if err != nil {
				return err
			}
			v, err := Parse(b)
			if err != nil {
				return err
			}
			if st, err := os.ReadFile(root + "/proc/stat"); err == nil {
				v.CPUs = CountCPUs(st)
			}
			cur = v
			return nil
		},
	}
}
