// Package nginx is the built-in collector module "nginx": nginx's
// stub_status page (active, accepts, handled, requests, reading, writing,
// waiting — the names Telegraf and Netdata use). accepts, handled and
// requests are nginx's own counters (they include the module's own status
// requests); the rest are gauges.
//
// Params: url (default http://127.0.0.1/nginx_status), timeout_ms (2000).
// Needs grant { http_get = "<the url>" }.
package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/canopy-dev/canopy/sdk/collector"
)

// Fields of stub_status, in the module's metric order.
var Fields = []string{"active", "accepts", "handled", "requests", "reading", "writing", "waiting"}

// Parse reads a stub_status page:
//
//	Active connections: 2
//	server accepts handled requests
//	 16 16 31
//	Reading: 0 Writing: 1 Waiting: 1
func Parse(b []byte) (map[string]float64, error) {
	out := map[string]float64{}
	lines := bytes.Split(b, []byte("\n"))
	num := func(s []byte) (float64, error) { return strconv.ParseFloat(string(s), 64) }
	for i, l := range lines {
		f := bytes.Fields(l)
		switch {
		case len(f) == 3 && string(f[0]) == "Active" && string(f[1]) == "connections:":
			v, err := num(f[2])
			if err != nil {
				return nil, errors.New("stub_status: bad active connections")
			}
			out["active"] = v
		case len(f) == 4 && string(f[0]) == "server" && i+1 < len(lines):
			n := bytes.Fields(lines[i+1])
			if len(n) != 3 {
				return nil, errors.New("stub_status: bad counter line")
			}
			for j, k := range []string{"accepts", "handled", "requests"} {
				v, err := num(n[j])
				if err != nil {
					return nil, errors.New("stub_status: bad counter")
				}
				out[k] = v
			}
		case len(f) == 6 && string(f[0]) == "Reading:":
			for j, k := range []string{"reading", "writing", "waiting"} {
				v, err := num(f[2*j+1])
				if err != nil {
					return nil, errors.New("stub_status: bad connection state")
				}
				out[k] = v
			}
		}
	}
	for _, k := range Fields {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("stub_status: no %s (is this a stub_status page?)", k)
		}
	}
	return out, nil
}

// Module returns the nginx module; get fetches a URL (collector.HTTPGet
// when nil).
func Module(get func(url string, timeout time.Duration) (*collector.Response, error)) collector.Module {
	if get == nil {
		get = collector.HTTPGet
	}
	var url string
	timeout := 2 * time.Second
	var cur map[string]float64
	return collector.Module{
		Init: func(params map[string]string) ([]collector.Metric, error) {
			url = params["url"]
			if url == "" {
				url = "http://127.0.0.1/nginx_status"
			}
			if s := params["timeout_ms"]; s != "" {
				ms, err := strconv.Atoi(s)
				if err != nil || ms <= 0 {
					return nil, fmt.Errorf("timeout_ms %q: want a positive number", s)
				}
				timeout = time.Duration(ms) * time.Millisecond
			}
			var ms []collector.Metric
			for _, f := range Fields {
				slope, units := "both", "connections"
				switch f {
				case "accepts", "handled":
					slope = "positive"
				case "requests":
					slope, units = "positive", "requests"
				}
				ms = append(ms, collector.Metric{Name: f, ValueType: "uint", Units: units, Slope: slope, Groups: "nginx",
					Description: "stub_status " + f, CallBack: func(name string) (any, error) {
						if cur == nil {
							return nil, errors.New("no stub_status")
						}
						return cur[name], nil
					}})
			}
			return ms, nil
		},
		Collect: func() error {
			cur = nil
			r, err := get(url, timeout)
			if err != nil {
				return err
			}
			if r.Status != 200 {
				return fmt.Errorf("%s answered %d", url, r.Status)
			}
			cur, err = Parse(r.Body)
			return err
		},
	}
}
