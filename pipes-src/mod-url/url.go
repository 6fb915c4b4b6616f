// Package url is the built-in collector module "url": an HTTP check of
// listed URLs — status code, time to first byte, total time and body bytes
// (Telegraf's http_response fields plus TTFB). Every param whose value is
// an http(s) URL is a check named after the param: `param home { value =
// "http://127.0.0.1/" }` gives home/status, home/ttfb_ms, home/total_ms,
// home/bytes and home/up (1 when the request completed with a status below
// 400), at url,<host>,home,…
//
// Params: any number of NAME = URL, timeout_ms (default 5000).
// Needs grant { http_get = "<each url>" }.
package url

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/sdk/collector"
)

type check struct {
	name, url string
	resp      *collector.Response
	err       error
}

// Module returns the url module; get fetches a URL (collector.HTTPGet when
// nil).
func Module(get func(url string, timeout time.Duration) (*collector.Response, error)) collector.Module {
	if get == nil {
		get = collector.HTTPGet
	}
	var checks []*check
	timeout := 5 * time.Second
	return collector.Module{
		Init: func(params map[string]string) ([]collector.Metric, error) {
			checks = nil
			if s := params["timeout_ms"]; s != "" {
				ms, err := strconv.Atoi(s)
				if err != nil || ms <= 0 {
					return nil, fmt.Errorf("timeout_ms %q: want a positive number", s)
				}
				timeout = time.Duration(ms) * time.Millisecond
			}
			for name, v := range params {
				if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
					if strings.ContainsAny(name, "/,%") {
						return nil, fmt.Errorf("check name %q may not hold / , or %%", name)
					}
					checks = append(checks, &check{name: name, url: v})
				}
			}
			if len(checks) == 0 {
				return nil, errors.New("no URL to check: add param NAME { value = \"http://...\" }")
			}
			sort.Slice(checks, func(i, j int) bool { return checks[i].name < checks[j].name })
			var ms []collector.Metric
			for _, c := range checks {
				c := c
				add := func(field, vt, units string, get func(*collector.Response) any) {
					ms = append(ms, collector.Metric{Name: c.name + "/" + field, ValueType: vt, Units: units,
						Slope: "both", Groups: "url", Description: field + " of " + c.url,
						CallBack: func(string) (any, error) {
							if field == "up" {
								if c.err != nil || c.resp == nil || c.resp.Status >= 400 {
									return 0, nil
								}
								return 1, nil
							}
							if c.err != nil {
								return nil, c.err
							}
							return get(c.resp), nil
						}})
				}
				add("status", "uint", "", func(r *collector.Response) any { return r.Status })
				add("ttfb_ms", "double", "ms", func(r *collector.Response) any { return millis(r.TTFB) })
				add("total_ms", "double", "ms", func(r *collector.Response) any { return millis(r.Total) })
				add("bytes", "uint", "bytes", func(r *collector.Response) any { return r.Bytes })
				add("up", "uint", "", nil)
			}
			return ms, nil
		},
		Collect: func() error {
			for _, c := range checks {
				c.resp, c.err = get(c.url, timeout)
			}
			return nil
		},
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
