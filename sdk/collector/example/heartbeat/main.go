// Command heartbeat is the collector module of sdk/collector's README,
// whole: each collection it reports beats = weight. With defaultaction add
// (see heartbeat.conf) canopy's tree then counts collections per host, so
// a host that stopped reporting — or pushes lost on the way — show as a
// gap. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags='-s -w' -o heartbeat.wasm .
package main

import (
	"fmt"
	"strconv"

	"github.com/canopy-dev/canopy/sdk/collector"
)

func init() {
	collector.Register("heartbeat", collector.Module{
		// metric_init(params): params are strings from the .conf file.
		Init: func(params map[string]string) ([]collector.Metric, error) {
			weight := 1.0
			if s, ok := params["weight"]; ok {
				w, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return nil, fmt.Errorf("param weight %q: %w", s, err)
				}
				weight = w
			}
			return []collector.Metric{{
				Name:        "beats",
				CallBack:    func(name string) (any, error) { return weight, nil },
				TimeMax:     60,
				ValueType:   "float",
				Units:       "beats",
				Slope:       "positive",
				Format:      "%.0f",
				Groups:      "heartbeat",
				Description: "One beat per collection",
			}}, nil
		},
		// metric_cleanup(): nothing to release here.
		Cleanup: func() {},
	})
}

func main() {}
