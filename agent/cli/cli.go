// Package cli is canopy-agent's command line (cmd/canopy-agent and agent
// only call Main). canopy-agent runs Ganglia-style collector modules compiled to
// WebAssembly and pushes their metrics into canopyd (or a relay),
// buffering on disk while the server is away. It can also bridge an
// existing gmond.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/agent/collect"
	"github.com/canopy-dev/canopy/agent/config"
	"github.com/canopy-dev/canopy/agent/gmond"
	"github.com/canopy-dev/canopy/agent/modules"
	"github.com/canopy-dev/canopy/agent/push"
	pipeswasm "github.com/canopy-dev/canopy/pipes-wasm"
	"github.com/canopy-dev/canopy/sdk/host"
)

// Main runs canopy-agent with os.Args and exits on failure.
func Main() {
	fs := flag.NewFlagSet("canopy-agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Parse's messages are printed below, once
	configPath := fs.String("config", config.DefaultFile, "agent config (YAML; optional)")
	server := fs.String("server", "", "push to this URL (http://HOST:PORT or tcp://HOST:PORT), overriding the config")
	every := fs.Duration("every", 0, "collect every group at this interval, overriding collect_every and the config")
	hostName := fs.String("host", "", "this host's name in the tree, overriding the config")
	once := fs.Bool("once", false, "collect once, print the push JSON to stdout and exit (nothing is pushed)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Println("Usage: canopy-agent [flags]\n\nFlags:")
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return
		}
		fmt.Fprintf(os.Stderr, "canopy-agent: %v (canopy-agent -h lists the flags)\n", err)
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "canopy-agent: unexpected argument %q (canopy-agent -h lists the flags)\n", fs.Arg(0))
		os.Exit(2)
	}
	configSet := false
	fs.Visit(func(f *flag.Flag) { configSet = configSet || f.Name == "config" })
	if os.Getenv("GOMAXPROCS") == "" {
		// The agent does a few ms of work every few seconds: one P spares
		// the idle Ps' spinning and wake-ups, and setting it stops the
		// runtime's once-a-second re-reading of the CPU count and limit.
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOGC") == "" {
		// The live heap is mostly wazero's compiled-module data, which never
		// changes, and the agent allocates little: collecting at 20 % growth
		// instead of 100 % keeps RSS near the live heap for next to no CPU.
		debug.SetGCPercent(20)
	}
	if err := run(*configPath, !configSet, *server, *every, *hostName, *once); err != nil {
		fmt.Fprintln(os.Stderr, "canopy-agent:", err)
		os.Exit(1)
	}
}

func run(configPath string, configOptional bool, server string, every time.Duration, hostName string, once bool) error {
	cfg, err := config.Load(configPath, configOptional)
	if err != nil {
		return err
	}
	if server != "" {
		cfg.Server = server
	}
	if every > 0 {
		cfg.Every = config.Duration(every)
	}
	if hostName != "" {
		cfg.Host = hostName
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logf := log.Printf
	if once {
		return runOnce(cfg, logf)
	}
	client, err := push.New(push.Options{Server: cfg.Server, Token: cfg.Token, Dir: cfg.Buffer.Dir,
		MaxBytes: cfg.Buffer.MaxBytes, Timeout: cfg.Timeout.D(), Logf: logf})
	if err != nil {
		return err
	}
	rt, closeRT, err := newRuntime(cfg, logf, afterLoad)
	if err != nil {
		return err
	}
	defer closeRT()
	agent := collect.New(collect.Options{Host: cfg.Host, ConfigsDir: cfg.ConfigsDir, Every: cfg.Every.D(),
		Rescan: cfg.Rescan.D(), Runtime: rt, Sink: client.Enqueue, Logf: logf})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("canopy-agent %s: modules %s, configs %s, pushing to %s", cfg.Host, cfg.ModulesDir, cfg.ConfigsDir, cfg.Server)

	var wg sync.WaitGroup
	sendCtx, stopSend := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { defer wg.Done(); client.Run(sendCtx) }()
	var bridges sync.WaitGroup
	for _, g := range cfg.Gmond {
		b := &gmond.Bridge{Addr: g.Addr, Every: g.Every.D(), Prefix: g.Prefix, Sink: client.Enqueue, Logf: logf}
		bridges.Add(1)
		go func() { defer bridges.Done(); b.Run(ctx) }()
	}
	err = agent.Run(ctx)
	bridges.Wait()
	// Last chance to deliver what is buffered; the rest waits on disk for
	// the next start.
	fctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout.D())
	if derr := client.Drain(fctx); derr != nil {
		log.Printf("%d batches stay buffered for the next start: %v", client.Pending(), derr)
	}
	cancel()
	stopSend()
	wg.Wait()
	st := client.Stats()
	log.Printf("stopped: %d batches sent, %d dropped, %d pending, %d collection rounds", st.Sent, st.Dropped, st.Pending, agent.Rounds())
	return err
}

// newRuntime makes the engine and module runtime that the agent and -once
// share; loaded (may be nil) runs after every module load.
func newRuntime(cfg *config.Config, logf func(string, ...any), loaded func()) (*modules.Runtime, func() error, error) {
	eng, err := host.NewEngineWith(host.EngineOptions{CacheDir: cfg.CacheDir, LazyMemory: true, DropCode: true})
	if err != nil {
		return nil, nil, err
	}
	rt := modules.New(modules.Options{Dir: cfg.ModulesDir, Builtins: pipeswasm.Modules(), Engine: eng,
		MemoryBytes: uint64(cfg.Limits.MemoryMB) << 20, CallTimeout: cfg.Limits.CallTimeout.D(),
		HTTPTimeout: cfg.Limits.HTTPTimeout.D(), Stderr: os.Stderr, Logf: logf, Loaded: loaded})
	return rt, eng.Close, nil
}

// runOnce is -once: one round of every configured module, printed.
func runOnce(cfg *config.Config, logf func(string, ...any)) error {
	rt, closeRT, err := newRuntime(cfg, logf, nil)
	if err != nil {
		return err
	}
	defer closeRT()
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	a := collect.New(collect.Options{Host: cfg.Host, ConfigsDir: cfg.ConfigsDir, Runtime: rt, Logf: logf,
		Sink: func(b push.Batch) error { return enc.Encode(b) }})
	return a.Once(context.Background())
}

// afterLoad returns to the OS at once the memory that compiling and
// instantiating modules used only briefly (decoded sections, wazero's
// compiler state: tens of MB at a cold start), rather than leaving it to
// the background scavenger, and drops the binary's resident pages: at
// start-up the kernel maps them in 64 KiB runs around every fault, most of
// them code and tables used only while loading (wazero's compiler, config
// parsing); the pages collecting needs come back from the page cache.
func afterLoad() {
	debug.FreeOSMemory()
	pageOutBinary()
}
