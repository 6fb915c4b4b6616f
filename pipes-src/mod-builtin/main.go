// Command builtin is the agent's built-in collector modules in one .wasm
// (pipes-wasm/modules/builtin.wasm): cpu, mem, load, net, disk, nginx, url
// and accesslog. One file means one compiled module and one small instance
// for all of them — a Go guest costs ~15 MB of compiled code, so eight
// separate files would cost the agent eight times that.
package main

import (
	"github.com/canopy-dev/canopy/pipes-src/mod-accesslog"
	"github.com/canopy-dev/canopy/pipes-src/mod-cpu"
	"github.com/canopy-dev/canopy/pipes-src/mod-disk"
	"github.com/canopy-dev/canopy/pipes-src/mod-load"
	"github.com/canopy-dev/canopy/pipes-src/mod-mem"
	"github.com/canopy-dev/canopy/pipes-src/mod-net"
	"github.com/canopy-dev/canopy/pipes-src/mod-nginx"
	"github.com/canopy-dev/canopy/pipes-src/mod-url"
	"github.com/canopy-dev/canopy/sdk/collector"
)

func init() {
	collector.Register("cpu", cpu.Module())
	collector.Register("mem", mem.Module())
	collector.Register("load", load.Module())
	collector.Register("net", net.Module(nil))
	collector.Register("disk", disk.Module(nil, nil))
	collector.Register("nginx", nginx.Module(nil))
	collector.Register("url", url.Module(nil))
	collector.Register(accesslog.Name, accesslog.Module(accesslog.Name, nil, nil))
}

func main() {}
