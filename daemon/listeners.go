package main

import (
	"log"

	"github.com/canopy-dev/canopy/daemon/api"
	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/listen"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// startListeners opens the `listeners` sockets (except syslog, which
// ingest serves) and returns a func that closes them, merging what they
// read. They share the HTTP server's auth, limits, metrics and pipes hook.
func startListeners(cfgs []config.Listener, t *tree.Tree, srv *api.Server) (func(), error) {
	var open []*listen.Listener
	stop := func() {
		for _, l := range open {
			l.Close()
		}
	}
	m := srv.Metrics()
	for _, c := range cfgs {
		if c.Format == "syslog" {
			continue
		}
		l, err := listen.Start(listen.Options{
			Tree: t, Config: c, Auth: srv.Auth(), Limits: srv.Limits(), AccessLog: srv.AccessLog(),
			LinesIn: m.LinesIn, BadLines: m.BadLines,
		})
		if err != nil {
			stop()
			return nil, err
		}
		log.Printf("listening on %s %s (%s)", c.Proto, l.Addr(), c.Format)
		open = append(open, l)
	}
	return stop, nil
}
