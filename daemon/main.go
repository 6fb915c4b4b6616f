// Command canopyd is canopy's daemon: it turns web logs and pushed metrics
// into one live tree and serves it over HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/graph"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/daemon/trend"
	"github.com/canopy-dev/canopy/ui"
)

func main() {
	if len(os.Args) > 1 {
		if cmd := subcommand(os.Args[1]); cmd != nil {
			if err := cmd(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "canopyd:", err)
				os.Exit(1)
			}
			return
		}
	}
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen address")
	dataDir := flag.String("data", "./data", "data folder (snapshot, trend store, views)")
	configPath := flag.String("config", "conf/canopyd.yaml", "YAML config file (optional)")
	snapEvery := flag.Duration("snapshot.interval", 30*time.Second, "how often the tree is checkpointed")
	trendFlags := trend.RegisterFlags(flag.CommandLine)
	pipeFl := registerPipeFlags(flag.CommandLine)
	ingestFl := registerIngestFlags(flag.CommandLine)
	relayMode := flag.Bool("relay", false, "run as a relay: forward pushes to the upstreams in -config (conf/relay.conf) instead of keeping a tree")
	flag.Parse()
	if *relayMode {
		path := *configPath
		if !flagSet("config") {
			path = "conf/relay.conf"
		}
		if err := runRelay(*listen, *dataDir, path, pipeFl); err != nil {
			log.Fatalf("canopyd: %v", err)
		}
		return
	}
	if err := run(*listen, *dataDir, *configPath, *snapEvery, trendFlags, pipeFl, ingestFl); err != nil {
		log.Fatalf("canopyd: %v", err)
	}
}

// subcommand returns the non-daemon mode named name (`canopyd replay …`),
// or nil.
func subcommand(name string) func(args []string) error {
	switch name {
	case "gen":
		return cmdGen
	case "pipe":
		return cmdPipe
	case "replay":
		return cmdReplay
	}
	return nil
}

func run(listen, dataDir, configPath string, snapEvery time.Duration, trendFlags *trend.Flags, pipeFl *pipeFlags, ingestFl *ingestFlags) error {
	cfg, err := config.Load(configPath, !flagSet("config"))
	if err != nil {
		return err
	}
	_ = cfg
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("cannot create data folder %q: %w", dataDir, err)
	}
	snapPath := filepath.Join(dataDir, "tree.snap")
	t, meta, err := tree.LoadSnapshot(snapPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t = tree.New()
	case err != nil:
		return fmt.Errorf("cannot restore the tree: %w (move the file away to start empty)", err)
	default:
		log.Printf("restored %d nodes from %s", t.Len(), snapPath)
	}
	trendStore, err := trendFlags.Open(dataDir, cfg.Trend.Remote, cfg.Trend.RemoteRead)
	if err != nil {
		return err
	}
	defer trendStore.Close()
	pipesCtx, stopPipes := context.WithCancel(context.Background())
	defer stopPipes()
	pm, closePipes, err := pipeFl.start(pipesCtx, dataDir, cfg.Pipes, t)
	if err != nil {
		return err
	}
	defer closePipes()
	ingestRun, err := startIngest(ingestFl, cfg, dataDir, meta, pm)
	if err != nil {
		return err
	}
	defer ingestRun.stop()
	srv := api.New(api.Options{Tree: t, Limits: cfg.Limits, Tokens: cfg.Tokens, AccessLog: pm.PushHook(pushFormats(cfg.Pipes)),
		Status: func() map[string]any {
			return map[string]any{"trend": trendStore.Status(), "pipes": pm.Status(), "ingest": ingestRun.status()}
		}})
	registerSubsystemMetrics(srv.Metrics().Registry(), pm.Status, trendStore.Status, ingestRun.status)
	api.TrendRoutes(srv.Router(), trendStore)
	ingestRun.routes(srv.Router(), t, trendStore)
	webUI, err := ui.New(ui.Options{ViewsDir: filepath.Join(dataDir, "views"), Tokens: cfg.Tokens})
	if err != nil {
		return err
	}
	webUI.Routes(srv.Router())
	api.GraphRoutes(srv.Router(), graph.New(graph.Options{Trend: graph.FromTrend(trendStore), Tree: t}), graphViews(webUI))
	stopListeners, err := startListeners(cfg.Listeners, t, srv)
	if err != nil {
		return err
	}
	hs := &http.Server{Addr: listen, Handler: webUI.Wrap(srv), ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(srv.Close) // end long-polls so shutdown is quick

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	go trendStore.Run(ctx, t)
	log.Printf("canopyd listening on http://%s (data %s)", listen, dataDir)

	tick := time.NewTicker(snapEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("cannot serve HTTP on %s: %w", listen, err)
		case <-tick.C:
			if err := ingestRun.snapshot(t, snapPath); err != nil {
				log.Printf("snapshot failed: %v", err)
			}
		case <-ctx.Done():
			log.Printf("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = hs.Shutdown(sctx)
			cancel()
			stopListeners()
			ingestRun.stop() // every line read is applied before the last checkpoint
			if err := ingestRun.snapshot(t, snapPath); err != nil {
				return fmt.Errorf("final snapshot failed: %w", err)
			}
			return nil
		}
	}
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
