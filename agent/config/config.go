// Package config loads canopy-agent's own settings (/etc/canopy/agent.conf, YAML
// like canopyd's): where to push, this host's name, the module and module
// config folders, the on-disk buffer, gmond bridges and the sandbox caps.
// Module configs themselves are gmond-style files read by agent/pyconf.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/canopy-dev/canopy/daemon/config"
	"github.com/canopy-dev/canopy/daemon/timespec"
)

// DefaultFile is the agent's config when installed; it is optional.
const DefaultFile = "/etc/canopy/agent.conf"

// InstalledStateDir is the installed agent's state folder (the unit's
// StateDirectory): buffer and compiled modules.
const InstalledStateDir = "/var/lib/canopy-agent"

// Config is the whole agent.conf.
type Config struct {
	// Path is the file read ("" for none); relative folders in it, and the
	// default modules.d and agent.d, are taken from its folder.
	Path string `yaml:"-"`
	// Server is where to push: a canopyd or a relay (canopyd --relay), as
	// http(s)://HOST:PORT (POST /push) or tcp://HOST:PORT (a json listener).
	Server string `yaml:"server"`
	// Token is sent as a bearer token (a canopyd token with scope write).
	Token string `yaml:"token"`
	// Host is this machine's name in the tree (default: the system's).
	Host string `yaml:"host"`
	// ModulesDir holds the .wasm modules; ConfigsDir the module configs
	// (NAME.conf on, NAME.conf.off off — read again without a restart).
	ModulesDir string `yaml:"modules_dir"`
	ConfigsDir string `yaml:"configs_dir"`
	// Every, when set, replaces every collection group's collect_every
	// (handy for a quick look or a test); empty keeps them.
	Every Duration `yaml:"every"`
	// Rescan is how often the configs folder is checked for changes.
	Rescan Duration `yaml:"rescan"`
	// Timeout caps one push.
	Timeout Duration `yaml:"timeout"`
	Buffer  Buffer   `yaml:"buffer"`
	Limits  Limits   `yaml:"limits"`
	// CacheDir keeps compiled modules between runs ("" = in memory only).
	CacheDir string  `yaml:"cache_dir"`
	Gmond    []Gmond `yaml:"gmond"`
}

// Buffer is the on-disk queue that keeps pushes while the server is away.
type Buffer struct {
	Dir      string `yaml:"dir"`
	MaxBytes int64  `yaml:"max_bytes"`
}

// Limits are the sandbox caps of every module file.
type Limits struct {
	MemoryMB    int      `yaml:"memory_mb"`
	CallTimeout Duration `yaml:"call_timeout"`
	HTTPTimeout Duration `yaml:"http_timeout"`
}

// Gmond is an existing gmond whose XML (TCP 8649) is read and pushed.
type Gmond struct {
	Addr  string   `yaml:"addr"`
	Every Duration `yaml:"every"`
	// Prefix is the tree root of its metrics (default ganglia):
	// ganglia,<cluster>,<host>,<metric>.
	Prefix string `yaml:"prefix"`
}

// Duration is a time.Duration written as "10s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses "10s", "1m30s", "1d" (timespec.ParseDuration).
func (d *Duration) UnmarshalYAML(n ast.Node) error {
	tk := n.GetToken()
	v, err := timespec.ParseDuration(tk.Value)
	if err != nil {
		return &config.PosError{Line: tk.Position.Line, Msg: fmt.Sprintf("%q is not a duration (like 10s or 1m): %v", tk.Value, err)}
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Server == "" {
		c.Server = "http://127.0.0.1:8080"
	}
	confDir := filepath.Dir(DefaultFile)
	if c.Path != "" {
		confDir = filepath.Dir(c.Path)
	}
	rel := func(p, def string) string {
		switch {
		case p == "":
			return def
		case filepath.IsAbs(p):
			return p
		}
		return filepath.Join(confDir, p)
	}
	state := stateDir(c.Path)
	// Modules built into the agent need no folder; modules.d adds more.
	c.ModulesDir = rel(c.ModulesDir, filepath.Join(confDir, "modules.d"))
	c.ConfigsDir = rel(c.ConfigsDir, filepath.Join(confDir, "agent.d"))
	c.Buffer.Dir = rel(c.Buffer.Dir, filepath.Join(state, "buffer"))
	if c.CacheDir != "" {
		c.CacheDir = rel(c.CacheDir, "")
	}
	if c.Rescan == 0 {
		c.Rescan = Duration(2 * time.Second)
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(10 * time.Second)
	}
	if c.Buffer.MaxBytes == 0 {
		c.Buffer.MaxBytes = 64 << 20
	}
	if c.Limits.MemoryMB == 0 {
		c.Limits.MemoryMB = 64
	}
	if c.Limits.CallTimeout == 0 {
		c.Limits.CallTimeout = Duration(10 * time.Second)
	}
	if c.Limits.HTTPTimeout == 0 {
		c.Limits.HTTPTimeout = Duration(5 * time.Second)
	}
	for i := range c.Gmond {
		if c.Gmond[i].Every == 0 {
			c.Gmond[i].Every = Duration(15 * time.Second)
		}
		if c.Gmond[i].Prefix == "" {
			c.Gmond[i].Prefix = "ganglia"
		}
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
}

// stateDir is where the agent keeps its buffer by default: the installed
// state folder with the installed config, else the user's state folder.
func stateDir(configPath string) string {
	if filepath.Clean(configPath) == DefaultFile {
		if fi, err := os.Stat(InstalledStateDir); err == nil && fi.IsDir() {
			return InstalledStateDir
		}
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "canopy-agent")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "canopy-agent")
	}
	return filepath.Join(os.TempDir(), "canopy-agent")
}

// Load reads path; a missing file is not an error when optional (defaults
// apply). Unknown keys are errors.
func Load(path string, optional bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			c := &Config{Path: path}
			c.Defaults()
			return c, c.Validate()
		}
		return nil, fmt.Errorf("cannot read agent config %q: %w", path, err)
	}
	return Parse(data, path)
}

// Parse decodes an agent config; name is used in errors.
func Parse(data []byte, name string) (*Config, error) {
	var c Config
	if err := config.DecodeStrict(data, &c); err != nil {
		return nil, fmt.Errorf("cannot parse agent config %q: %w", name, err)
	}
	c.Path = name
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid agent config %q: %w", name, err)
	}
	return &c, nil
}

// Validate checks what YAML cannot.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Server)
	if err != nil || u.Host == "" {
		return fmt.Errorf("server %q: want http://HOST:PORT, https://HOST:PORT or tcp://HOST:PORT", c.Server)
	}
	switch u.Scheme {
	case "http", "https", "tcp":
	default:
		return fmt.Errorf("server %q: scheme %q: want http, https or tcp", c.Server, u.Scheme)
	}
	if c.Host == "" {
		return errors.New("host is empty and the system has no host name")
	}
	if strings.ContainsAny(c.Host, ",%") {
		return fmt.Errorf("host %q may not hold ',' or '%%'", c.Host)
	}
	if c.Every < 0 || c.Rescan <= 0 || c.Timeout <= 0 {
		return errors.New("every, rescan and timeout must be positive")
	}
	if c.Buffer.MaxBytes < 0 {
		return errors.New("buffer.max_bytes must not be negative")
	}
	if c.Limits.MemoryMB < 1 || c.Limits.MemoryMB > 4096 {
		return fmt.Errorf("limits.memory_mb %d: want 1 to 4096", c.Limits.MemoryMB)
	}
	for i, g := range c.Gmond {
		if g.Addr == "" {
			return fmt.Errorf("gmond[%d]: addr is empty", i)
		}
		if g.Every <= 0 {
			return fmt.Errorf("gmond[%d]: every must be positive", i)
		}
	}
	return nil
}
