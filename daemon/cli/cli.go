// Package cli is canopyd's command line: it reads flags and config files;
// daemon/app puts the daemon together. The mains in cmd/canopyd and daemon
// only call Main, so `go install ./cmd/canopyd` and `go run ./daemon` behave
// the same.
package cli

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/daemon/app"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/relay"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// Main runs canopyd with os.Args and exits on failure.
func Main() {
	if len(os.Args) > 1 {
		if cmd := app.Subcommand(os.Args[1]); cmd != nil {
			if err := cmd(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "canopyd:", err)
				os.Exit(1)
			}
			return
		}
	}
	var cfg app.Config
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	flag.StringVar(&cfg.DataDir, "data", "", "data folder: snapshot, trend store, views (default "+config.InstalledDataDir+" with the installed config, else ~/.local/state/canopy)")
	configPath := flag.String("config", config.DefaultFile, "YAML config file (optional)")
	flag.DurationVar(&cfg.SnapshotEvery, "snapshot.interval", 30*time.Second, "how often the tree is checkpointed")
	cfg.Trend = trend.RegisterFlags(flag.CommandLine)
	pipeFl := app.RegisterPipeFlags(flag.CommandLine)
	ingestFl := app.RegisterIngestFlags(flag.CommandLine)
	relayMode := flag.Bool("relay", false, "run as a relay: forward pushes to the upstreams in -config ("+relay.DefaultFile+") instead of keeping a tree")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pipeFl.DirFromFlag = set["pipes"]
	cfg.Pipes, cfg.Ingest = *pipeFl, *ingestFl
	var err error
	if *relayMode {
		path := *configPath
		if !set["config"] {
			path = relay.DefaultFile
		}
		cfg.RelayPath = path
		if cfg.Relay, err = relay.LoadConfig(path); err != nil {
			log.Fatalf("canopyd: %v", err)
		}
		if !set["listen"] && cfg.Relay.Listen != "" {
			cfg.Listen = cfg.Relay.Listen
		}
	} else if cfg.File, err = config.Load(*configPath, !set["config"]); err != nil {
		log.Fatalf("canopyd: %v", err)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = config.DefaultDataDir(*configPath)
	}
	if err := run(cfg); err != nil {
		log.Fatalf("canopyd: %v", err)
	}
}

// run serves until SIGINT or SIGTERM, then stops the daemon cleanly.
func run(cfg app.Config) error {
	d, err := app.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Start(ctx); err != nil {
		d.Stop()
		return err
	}
	select {
	case err := <-d.Err():
		d.Stop()
		return err
	case <-ctx.Done():
		log.Printf("shutting down")
	}
	return d.Stop()
}
