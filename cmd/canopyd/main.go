// Command canopyd is canopy's daemon: it turns web logs and pushed metrics
// into one live tree and serves it over HTTP (`go install ./cmd/canopyd`).
package main

import "github.com/canopy-dev/canopy/daemon/cli"

func main() { cli.Main() }
