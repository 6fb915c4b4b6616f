// Command canopy-agent runs Ganglia-style collector modules compiled to
// WebAssembly and pushes their metrics into canopyd. Kept so `go run ./agent`
// works; cmd/canopy-agent is the installed name.
package main

import "github.com/canopy-dev/canopy/agent/cli"

func main() { cli.Main() }
