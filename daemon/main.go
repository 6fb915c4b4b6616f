// Command canopyd is canopy's daemon: it turns web logs and pushed metrics
// into one live tree and serves it over HTTP. Kept so `go run ./daemon`
// (the README's first command) works; cmd/canopyd is the installed name.
package main

import "github.com/canopy-dev/canopy/daemon/cli"

func main() { cli.Main() }
