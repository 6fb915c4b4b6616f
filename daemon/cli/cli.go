// Package cli is canopyd's command line: it reads flags and config files;
// daemon/app puts the daemon together. The mains in cmd/canopyd and daemon
// only call Main, so `go install ./cmd/canopyd` and `go run ./daemon` behave
// the same.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/daemon/app"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/relay"
	"github.com/canopy-dev/canopy/daemon/trend"
)

// Main runs canopyd with os.Args and exits with its status.
func Main() { os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr)) }

// Run is canopyd with args (without the program name); it returns the exit
// status. Failures are one "canopyd: …" line on stderr.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if cmd := app.Subcommand(args[0]); cmd != nil {
			if err := cmd(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return 0
				}
				fail(stderr, err)
				return 1
			}
			return 0
		}
	}
	var cfg app.Config
	// canopyd's own FlagSet: the VictoriaMetrics library registers two dozen
	// flags on flag.CommandLine that are canopy's business, not the user's.
	fs := flag.NewFlagSet("canopyd", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Parse's messages are printed below, once
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data", "", "data folder: snapshot, trend store, views (default "+config.InstalledDataDir+" with the installed config, else ~/.local/state/canopy)")
	configPath := fs.String("config", config.DefaultFile, "YAML config file (optional)")
	fs.DurationVar(&cfg.SnapshotEvery, "snapshot.interval", 30*time.Second, "how often the tree is checkpointed")
	cfg.Trend = trend.RegisterFlags(fs)
	pipeFl := app.RegisterPipeFlags(fs)
	ingestFl := app.RegisterIngestFlags(fs)
	relayMode := fs.Bool("relay", false, "run as a relay: forward pushes to the upstreams in -config ("+relay.DefaultFile+") instead of keeping a tree")
	showVersion := fs.Bool("version", false, "print the version, the commit and the built-in pipes, and exit (as canopyd version)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs)
			return 0
		}
		fmt.Fprintf(stderr, "canopyd: %v (canopyd -h lists the flags)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "canopyd: unknown command %q (canopyd -h lists the commands)\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		return Run([]string{"version"}, stdout, stderr)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
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
			fail(stderr, err)
			return 1
		}
		if !set["listen"] && cfg.Relay.Listen != "" {
			cfg.Listen = cfg.Relay.Listen
		}
	} else if cfg.File, err = config.Load(*configPath, !set["config"]); err != nil {
		fail(stderr, err)
		return 1
	}
	if cfg.DataDir == "" {
		cfg.DataDir = config.DefaultDataDir(*configPath)
	}
	if err := run(cfg); err != nil {
		fail(stderr, err)
		return 1
	}
	return 0
}

// fail prints err as the one line canopyd ends with. The path of a file
// error is said once: "cannot read config "/x": open /x: permission
// denied" loses its "open /x: ".
func fail(w io.Writer, err error) {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(msg, strconv.Quote(pe.Path)) {
		msg = strings.Replace(msg, pe.Op+" "+pe.Path+": ", "", 1)
	}
	fmt.Fprintln(w, "canopyd:", strings.Join(strings.Fields(msg), " "))
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
