package app

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/pipes"
	"github.com/canopy-dev/canopy/daemon/tree"
	pipeswasm "github.com/canopy-dev/canopy/pipes-wasm"
	"github.com/canopy-dev/canopy/sdk/host"
)

// PipeFlags are the daemon's pipe settings (-pipes, -pipes.cache,
// -pipes.workers).
type PipeFlags struct {
	Dir, Cache string
	Workers    int
	// Builtin runs the pipes embedded in canopyd (-pipes.builtin); a
	// folder file of the same name replaces one.
	Builtin bool
	// DirFromFlag says -pipes was given: it then wins over the config's
	// pipes.dir.
	DirFromFlag bool
}

// RegisterPipeFlags adds the pipe flags to fs.
func RegisterPipeFlags(fs *flag.FlagSet) *PipeFlags {
	f := &PipeFlags{}
	fs.StringVar(&f.Dir, "pipes", "", "WASM pipes folder: its .wasm files run besides the built-in pipes, replacing those of the same name; changes apply live (default pipes.d next to the config file, when it exists)")
	fs.BoolVar(&f.Builtin, "pipes.builtin", true, "run the built-in pipes embedded in canopyd")
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

// dir is the pipes folder to run: -pipes, else the config's pipes.dir,
// else pipes.d next to the config file when it exists ("" for none).
func (f PipeFlags) dir(file *config.Config) (string, error) {
	dir := f.Dir
	if file.Pipes.Dir != "" && !f.DirFromFlag {
		dir = file.Pipes.Dir
	}
	if dir == "" {
		if file.Path == "" {
			return "", nil
		}
		def := filepath.Join(filepath.Dir(file.Path), "pipes.d")
		if fi, err := os.Stat(def); err != nil || !fi.IsDir() {
			return "", nil
		}
		return def, nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("cannot use pipes folder %q: %w", dir, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("cannot use pipes folder %q: not a directory", dir)
	}
	return dir, nil
}

// open loads the built-in pipes and the pipes folder into t; Watch keeps
// it in sync.
func (f PipeFlags) open(dataDir string, file *config.Config, t *tree.Tree) (*loadedPipes, error) {
	dir, err := f.dir(file)
	if err != nil {
		return nil, err
	}
	cache := f.Cache
	if cache == "" {
		cache = filepath.Join(dataDir, "wasm-cache")
	}
	// Each guest's memory in its own mapping, unmapped when the instance
	// closes: a pipe that dies at its memory cap (then is instantiated
	// again) gives its memory back at once instead of leaving it to the
	// Go heap; code bodies are dropped once compiled (≈2 MB a pipe).
	eng, err := host.NewEngineWith(host.EngineOptions{CacheDir: cache, LazyMemory: true, DropCode: true})
	if err != nil {
		return nil, err
	}
	// Background: HTTP serves while the pipes compile (seconds each with an
	// empty cache); lines wait for them in Run.
	opt := pipes.Options{Dir: dir, Tree: t, Engine: eng, Config: file.Pipes, Workers: f.Workers, Background: true}
	if f.Builtin {
		opt.Builtins = pipeswasm.Pipes()
	}
	m, err := pipes.New(opt)
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
