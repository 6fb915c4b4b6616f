// Command builtin is the Go version of the agent's built-in collector
// modules in one .wasm: cpu, mem, load, net, disk, nginx, url and
// accesslog. The agent embeds their C twins (pipes-src/mod-builtin-c →
// pipes-wasm/modules/builtin.wasm), because a Go guest costs ~12 MB of
// compiled code; these stay the SDK's example of a module file holding
// several modules and the reference the C ones are tested against
// (agent/modules differential_test.go builds this package).
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
