package app

import (
	"context"
	"log"
	"sync"

	"github.com/canopy-dev/canopy/daemon/auth"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/listen"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/relay"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// openRelay builds `canopyd --relay`: every push is forwarded to the
// upstreams of relay.conf instead of kept in a tree.
func (d *Daemon) openRelay() error {
	cfg := d.cfg.Relay
	r, err := relay.New(cfg, d.cfg.DataDir, log.Printf)
	if err != nil {
		return err
	}
	d.relay = r
	d.handler = r.Handler()
	if cfg.AccessLog != "pipes" {
		return nil
	}
	// Pipes write into a scratch tree; each batch's output is taken out
	// of it whole and forwarded as deltas.
	scratch := tree.New()
	if d.pipes, err = d.cfg.Pipes.open(d.cfg.DataDir, &config.Config{Path: d.cfg.RelayPath, Pipes: cfg.Pipes}, scratch); err != nil {
		return err
	}
	formats := pushFormats(cfg.Pipes)
	var mu sync.Mutex // one batch at a time: Take must see only its output
	r.SetPipes(func(lines []string) (*tree.Push, error) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := d.pipes.Lines(context.Background(), formats, lines); err != nil {
			return nil, err
		}
		return scratch.Take(), nil
	})
	return nil
}

// startRelay forwards, listens and serves.
func (d *Daemon) startRelay(ctx context.Context) error {
	cfg := d.cfg.Relay
	if d.pipes != nil {
		d.pipes.Watch(ctx)
	}
	d.relay.Start()
	base := listen.Options{Tree: d.relay.Sink(), Auth: auth.New(cfg.Tokens), Limits: push.LimitsFrom(cfg.Limits),
		AccessLog: d.relay.AccessLog(), Logf: log.Printf}
	if err := d.startListeners(cfg.Listeners, base, "relay "); err != nil {
		return err
	}
	if err := d.serve(d.handler, nil); err != nil {
		return err
	}
	log.Printf("canopyd relay (%s mode, %d upstreams) listening on http://%s", cfg.Mode, len(cfg.Upstreams), d.Addr())
	return nil
}
