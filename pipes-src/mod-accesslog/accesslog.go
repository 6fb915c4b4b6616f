// Package accesslog is the built-in collector module "accesslog": it
// follows a web access log and forwards the new raw lines to the daemon,
// whose pipes parse them (the /push form field accesslog), so a web server
// without a local canopyd still feeds the tree. Its metrics count what it
// forwarded: lines and bytes in the last interval.
//
// Params: path (the log). Needs grant { tail = "<path>" }.
package accesslog

import (
	"bytes"
	"errors"

	"github.com/canopy-dev/canopy/sdk/collector"
)

// Name is the module's registered name (Forward needs it).
const Name = "accesslog"

// Module returns the accesslog module; read returns the complete new lines
// of path (collector.TailRead when nil), forward sends them on
// (collector.Forward of module name when nil).
func Module(name string, read func(path string, max int) ([]byte, error), forward func(lines ...string)) collector.Module {
	if read == nil {
		read = collector.TailRead
	}
	if forward == nil {
		forward = func(lines ...string) { collector.Forward(name, lines...) }
	}
	var path string
	var lines, nbytes int
	return collector.Module{
		Init: func(params map[string]string) ([]collector.Metric, error) {
			path = params["path"]
			if path == "" {
				return nil, errors.New("no path: add param path { value = \"/var/log/nginx/access.log\" }")
			}
			return []collector.Metric{
				{Name: "lines", ValueType: "uint", Units: "lines", Slope: "both", Groups: "accesslog",
					Description: "Lines forwarded in the last interval", CallBack: func(string) (any, error) { return lines, nil }},
				{Name: "bytes", ValueType: "uint", Units: "bytes", Slope: "both", Groups: "accesslog",
					Description: "Bytes forwarded in the last interval", CallBack: func(string) (any, error) { return nbytes, nil }},
			}, nil
		},
		Collect: func() error {
			lines, nbytes = 0, 0
			b, err := read(path, 4<<20)
			if err != nil {
				return err
			}
			nbytes = len(b)
			var out []string
			for len(b) > 0 {
				l, rest, _ := bytes.Cut(b, []byte("\n"))
				b = rest
				if l = bytes.TrimRight(l, "\r"); len(l) > 0 {
					out = append(out, string(l))
				}
			}
			lines = len(out)
			if len(out) > 0 {
				forward(out...)
			}
			return nil
		},
	}
}
