//go:build wasip1

// Command bad is a collector module that misbehaves on request, to test
// the agent's caps and quarantine: param mode = loop | oom | panic | ok.
package main

import "github.com/canopy-dev/canopy/sdk/collector"

var sink [][]byte

func init() {
	collector.Register("bad", collector.Module{Init: func(p map[string]string) ([]collector.Metric, error) {
		mode := p["mode"]
		return []collector.Metric{{Name: "x", CallBack: func(string) (any, error) {
			switch mode {
			case "loop":
				for {
				}
			case "oom":
				for {
					sink = append(sink, make([]byte, 1<<20))
				}
			case "panic":
				panic("bad module")
			}
			return 1.0, nil
		}}}, nil
	}})
}

func main() {}
