package app

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/tree"
	"github.com/canopy-dev/canopy/sdk/host"
)

// PipeFlags are the daemon's pipe settings (-pipes, -pipes.cache,
// -pipes.workers).
type PipeFlags struct {
	Dir, Cache string
	Workers    int
	// DirFromFlag says -pipes was given: it then wins over the config's
	// pipes.dir.
	DirFromFlag bool
}

// RegisterPipeFlags adds the pipe flags to fs.
func RegisterPipeFlags(fs *flag.FlagSet) *PipeFlags {
	f := &PipeFlags{}
	fs.StringVar(&f.Dir, "pipes", "pipes-wasm", "WASM pipes folder (every .wasm in it runs; changes apply live)")
	fs.StringVar(&f.Cache, "pipes.cache", "", "WASM compilation cache folder (default DATA/wasm-cache)")
	fs.IntVar(&f.Workers, "pipes.workers", 0, "batches run in parallel (default: the number of CPUs)")
	return f
}

// loadedPipes is the pipes manager with the engine it owns.
type loadedPipes struct {
	*pipes.Manager
	eng *host.Engine
}

func (p *loadedPipes) close() {
	p.Manager.Close()
	p.eng.Close()
}

// open loads the pipes folder into t; Watch keeps it in sync.
func (f PipeFlags) open(dataDir string, cfg config.PipesConfig, t *tree.Tree) (*loadedPipes, error) {
	dir := f.Dir
	if cfg.Dir != "" && !f.DirFromFlag {
		dir = cfg.Dir
	}
	cache := f.Cache
	if cache == "" {
		cache = filepath.Join(dataDir, "wasm-cache")
	}
	eng, err := host.NewEngine(cache)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		log.Printf("pipes folder %s: %v (no pipes until it exists)", dir, err)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			eng.Close()
			return nil, fmt.Errorf("cannot create pipes folder %q: %w", dir, err)
		}
	}
	m, err := pipes.New(pipes.Options{Dir: dir, Tree: t, Engine: eng, Config: cfg, Workers: f.Workers})
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &loadedPipes{Manager: m, eng: eng}, nil
}

// pushFormats is the format list for pushed access-log lines.
func pushFormats(cfg config.PipesConfig) []string {
	if cfg.PushLogFormat != "" {
		return []string{cfg.PushLogFormat}
	}
	return nil
}
