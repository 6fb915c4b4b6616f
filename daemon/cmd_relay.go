package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/listen"
	"github.com/canopy-dev/canopy/daemon/relay"
)

// runRelay is `canopyd --relay`: forward every push to the upstreams of
// relay.conf instead of keeping a tree.
func runRelay(listenFlag, dataDir, configPath string) error {
	cfg, err := relay.LoadConfig(configPath)
	if err != nil {
		return err
	}
	addr := cfg.Listen
	if flagSet("listen") || addr == "" {
		addr = listenFlag
	}
	r, err := relay.New(cfg, dataDir, log.Printf)
	if err != nil {
		return err
	}
	defer r.Close()
	r.Start()
	var socks []*listen.Listener
	defer func() {
		for _, l := range socks {
			l.Close()
		}
	}()
	for _, lc := range cfg.Listeners {
		l, err := listen.Start(listen.Options{Tree: r.Sink(), Config: lc, Auth: api.NewAuth(cfg.Tokens),
			Limits: api.LimitsFrom(cfg.Limits), AccessLog: r.AccessLog(), Logf: log.Printf})
		if err != nil {
			return err
		}
		log.Printf("relay listening on %s %s (%s)", lc.Proto, l.Addr(), lc.Format)
		socks = append(socks, l)
	}
	hs := &http.Server{Addr: addr, Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Printf("canopyd relay (%s mode, %d upstreams) listening on http://%s", cfg.Mode, len(cfg.Upstreams), addr)
	select {
	case err := <-errc:
		return fmt.Errorf("cannot serve HTTP on %s: %w", addr, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}
