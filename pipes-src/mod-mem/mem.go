// Package mem is the built-in collector module "mem": memory and swap from
// /proc/meminfo, in bytes, plus used_percent. Needs grant { read = "/proc" }.
package mem

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"

	"github.com/canopy-dev/canopy/sdk/collector"
)

// Metrics maps each metric to its /proc/meminfo field ("" = computed).
var Metrics = []struct{ Name, Field, Desc string }{
	{"total", "MemTotal", "Total usable memory"},
	{"free", "MemFree", "Unused memory"},
	{"available", "MemAvailable", "Memory available for new work without swapping"},
	{"buffers", "Buffers", "Block device buffers"},
	{"cached", "Cached", "Page cache"},
	{"shared", "Shmem", "Shared memory (tmpfs)"},
	{"used", "", "total - available"},
	{"used_percent", "", "used / total in percent"},
	{"swap_total", "SwapTotal", "Total swap"},
	{"swap_free", "SwapFree", "Unused swap"},
}

// Parse reads /proc/meminfo into bytes per field.
func Parse(b []byte) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseFloat(string(f[1]), 64)
		if err != nil {
			continue
		}
		if len(f) > 2 && string(f[2]) == "kB" {
			n *= 1024
		}
		out[string(bytes.TrimSuffix(f[0], []byte(":")))] = n
	}
	if out["MemTotal"] == 0 {
		return nil, errors.New("/proc/meminfo has no MemTotal")
	}
	if _, ok := out["MemAvailable"]; !ok { // kernels before 3.14
		out["MemAvailable"] = out["MemFree"] + out["Buffers"] + out["Cached"]
	}
	return out, nil
}

// Module returns the mem module.
func Module() collector.Module {
	var root string
	var cur map[string]float64
	return collector.Module{
		Init: func(params map[string]string) ([]collector.Metric, error) {
			root = params["root"]
			var ms []collector.Metric
			for _, m := range Metrics {
				m := m
				units := "bytes"
				if m.Name == "used_percent" {
					units = "%"
				}
				ms = append(ms, collector.Metric{Name: m.Name, ValueType: "double", Units: units, Slope: "both",
					Groups: "memory", Description: m.Desc, CallBack: func(string) (any, error) {
						switch m.Name {
						case "used":
							return cur["MemTotal"] - cur["MemAvailable"], nil
						case "used_percent":
							return (cur["MemTotal"] - cur["MemAvailable"]) * 100 / cur["MemTotal"], nil
						}
						return cur[m.Field], nil
					}})
			}
			return ms, nil
		},
		Collect: func() error {
			b, err := os.ReadFile(root + "/proc/meminfo")
			if err != nil {
				return err
			}
			cur, err = Parse(b)
			return err
		},
	}
}
