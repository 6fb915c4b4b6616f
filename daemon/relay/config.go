package relay

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/canopy-dev/canopy/daemon/config"
)

// Config is relay.conf.
type Config struct {
	// Listen is the HTTP address (the -listen flag overrides it).
	Listen string `yaml:"listen"`
	// Upstreams are the daemons (or further relays) forwarded to.
	Upstreams []Upstream `yaml:"upstreams"`
	// Mode is replicate (every upstream gets everything) or shard.
	Mode string `yaml:"mode"`
	// ShardDepth is how many leading key segments pick the shard (default
	// 1: the top-level key).
	ShardDepth int `yaml:"shard_depth"`
	// AccessLog says what happens to access-log lines: "forward" them raw
	// (default) or run them through the "pipes" here and forward deltas.
	AccessLog string      `yaml:"accesslog"`
	Queue     QueueConfig `yaml:"queue"`
	Batch     BatchConfig `yaml:"batch"`
	// Compress gzips batches toward upstreams (default true).
	Compress *bool `yaml:"compress"`
	// Listeners are TCP/UDP push sockets, as in canopyd.yaml.
	Listeners []config.Listener `yaml:"listeners"`
	// Tokens guard the relay's own endpoints, as in canopyd.yaml.
	Tokens []config.Token     `yaml:"tokens"`
	Limits config.Limits      `yaml:"limits"`
	Pipes  config.PipesConfig `yaml:"pipes"`
}

// Upstream is one daemon the relay forwards to.
type Upstream struct {
	URL   string `yaml:"url"`
	Token string `yaml:"token"`
}

// QueueConfig bounds the on-disk queue of each upstream.
type QueueConfig struct {
	// Dir holds the queues (default: <data>/relay).
	Dir string `yaml:"dir"`
	// MaxBytes per upstream (default 1 GiB); when full, the oldest data is
	// dropped and counted.
	MaxBytes int64 `yaml:"max_bytes"`
}

// BatchConfig shapes requests toward upstreams.
type BatchConfig struct {
	// MaxBytes of uncompressed payload per request (default 4 MiB).
	MaxBytes int `yaml:"max_bytes"`
	// Retry is the first backoff after a failure (default 200ms), doubling
	// up to MaxRetry (default 10s).
	Retry    time.Duration `yaml:"retry"`
	MaxRetry time.Duration `yaml:"max_retry"`
}

// DefaultFile is the relay config when installed.
const DefaultFile = "/etc/canopy/relay.conf"

// LoadConfig reads relay.conf; unknown keys are errors.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read relay config %q: %w", path, err)
	}
	var c Config
	if err := config.DecodeStrict(data, &c); err != nil {
		return nil, fmt.Errorf("cannot parse relay config %q: %w", path, err)
	}
	if err := c.setDefaults(); err != nil {
		return nil, fmt.Errorf("invalid relay config %q: %w", path, err)
	}
	return &c, nil
}

func (c *Config) setDefaults() error {
	if len(c.Upstreams) == 0 {
		return errors.New("no upstreams")
	}
	seen := map[string]bool{}
	for i, u := range c.Upstreams {
		p, err := url.Parse(u.URL)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("upstreams[%d]: url %q: want http://host:port", i, u.URL)
		}
		if seen[u.URL] {
			return fmt.Errorf("upstreams[%d]: url %q listed twice", i, u.URL)
		}
		seen[u.URL] = true
	}
	switch c.Mode {
	case "":
		c.Mode = "shard"
	case "shard", "replicate":
	default:
		return fmt.Errorf("mode %q: want shard or replicate", c.Mode)
	}
	if c.ShardDepth == 0 {
		c.ShardDepth = 1
	}
	if c.ShardDepth < 0 {
		return fmt.Errorf("shard_depth %d: want 1 or more", c.ShardDepth)
	}
	switch c.AccessLog {
	case "":
		c.AccessLog = "forward"
	case "forward", "pipes":
	default:
		return fmt.Errorf("accesslog %q: want forward or pipes", c.AccessLog)
	}
	if c.Queue.MaxBytes == 0 {
		c.Queue.MaxBytes = 1 << 30
	}
	if c.Queue.MaxBytes < 1<<16 {
		return fmt.Errorf("queue.max_bytes %d: want at least 65536", c.Queue.MaxBytes)
	}
	if c.Batch.MaxBytes == 0 {
		c.Batch.MaxBytes = 4 << 20
	}
	if c.Batch.Retry == 0 {
		c.Batch.Retry = 200 * time.Millisecond
	}
	if c.Batch.MaxRetry == 0 {
		c.Batch.MaxRetry = 10 * time.Second
	}
	if c.Compress == nil {
		t := true
		c.Compress = &t
	}
	lc := config.Config{Listeners: c.Listeners, Tokens: c.Tokens}
	return lc.Validate()
}
