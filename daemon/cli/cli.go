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
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file, closed at shutdown (go tool pprof)")
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
	// load reads the config file onto the flags' settings: at start and on
	// every SIGHUP.
	load := func() (app.Config, error) {
		c := cfg
		var err error
		if *relayMode {
			path := *configPath
			if !set["config"] {
				path = relay.DefaultFile
			}
			c.RelayPath = path
			if c.Relay, err = relay.LoadConfig(path); err != nil {
				return c, err
			}
			if !set["listen"] && c.Relay.Listen != "" {
				c.Listen = c.Relay.Listen
			}
		} else if c.File, err = config.Load(*configPath, !set["config"]); err != nil {
			return c, err
		}
		if c.DataDir == "" {
			c.DataDir = config.DefaultDataDir(*configPath)
		}
		return c, nil
	}
	first, err := load()
	if err != nil {
		fail(stderr, err)
		return 1
	}
	if *cpuProfile != "" {
		stopProfile, err := app.StartCPUProfile(*cpuProfile)
		if err != nil {
			fail(stderr, err)
			return 1
		}
		defer stopProfile()
	}
	if err := serve(first, load); err != nil {
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

// serve runs the daemon until SIGINT or SIGTERM, then stops it cleanly.
// SIGHUP reloads: the config is read again and, when it loads, the daemon
// is stopped (final checkpoint) and started again with it, in this
// process, a few seconds without serving; what was read is applied
// exactly once. A config that does not load, or a daemon that does not
// start with it, leaves the previous one running.
func serve(cfg app.Config, load func() (app.Config, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	for {
		select {
		case err := <-d.Err():
			d.Stop()
			return err
		case <-ctx.Done():
			log.Printf("shutting down")
			return d.Stop()
		case <-hup:
			next, err := load()
			if err != nil {
				log.Printf("reload refused, the running config stays: %v", err)
				continue
			}
			log.Printf("reloading: stopping to start again with the config read now")
			if err := d.Stop(); err != nil {
				return err
			}
			if d, err = start(ctx, next); err != nil {
				log.Printf("reload failed, starting again with the previous config: %v", err)
				if d, err = start(ctx, cfg); err != nil {
					return err
				}
				continue
			}
			cfg = next
			log.Printf("reloaded")
		}
	}
}

// start opens and starts a daemon.
func start(ctx context.Context, cfg app.Config) (*app.Daemon, error) {
	d, err := app.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}
