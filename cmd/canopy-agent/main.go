// Command canopy-agent runs Ganglia-style collector modules compiled to
// WebAssembly and pushes their metrics into canopyd (`go install ./cmd/canopy-agent`).
package main

import "github.com/canopy-dev/canopy/agent/cli"

func main() { cli.Main() }
