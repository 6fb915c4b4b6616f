package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/daemon/auth"
	"github.com/canopy-dev/canopy/daemon/listen"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/relay"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// runRelay is `canopyd --relay`: forward every push to the upstreams of
// relay.conf instead of keeping a tree.
func runRelay(listenFlag, dataDir, configPath string, pipeFl *pipeFlags) error {
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
	if cfg.AccessLog == "pipes" {
		// Pipes write into a scratch tree; each batch's output is taken
		// out of it whole and forwarded as deltas.
		scratch := tree.New()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m, closePipes, err := pipeFl.start(ctx, dataDir, cfg.Pipes, scratch)
		if err != nil {
			return err
		}
		defer closePipes()
		formats := pushFormats(cfg.Pipes)
		var mu sync.Mutex // one batch at a time: Take must see only its output
		r.SetPipes(func(lines []string) (*tree.Push, error) {
			mu.Lock()
			defer mu.Unlock()
			if _, err := m.Lines(ctx, formats, lines); err != nil {
				return nil, err
			}
			return scratch.Take(), nil
		})
	}
	r.Start()
	var socks []*listen.Listener
	defer func() {
		for _, l := range socks {
			l.Close()
		}
	}()
	for _, lc := range cfg.Listeners {
		l, err := listen.Start(listen.Options{Tree: r.Sink(), Config: lc, Auth: auth.New(cfg.Tokens),
			Limits: push.LimitsFrom(cfg.Limits), AccessLog: r.AccessLog(), Logf: log.Printf})
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
