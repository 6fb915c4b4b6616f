// Package relay is canopyd --relay: it accepts every push the daemon
// accepts and forwards it to upstream daemons instead of keeping a tree —
// replicated to all, or sharded by key prefix over a consistent-hash ring —
// through one on-disk queue per upstream, so an upstream outage loses
// nothing and a restart of either side counts nothing twice.
package relay

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Relay routes pushes into per-upstream queues and forwards them.
type Relay struct {
	cfg    *Config
	ups    []*upstream
	ring   *ring
	source string
	logf   func(string, ...any)
	wg     sync.WaitGroup
	cancel context.CancelFunc
	client *http.Client
	bufs   sync.Pool    // request bodies (*bytes.Buffer)
	dec    push.Decoder // JSON pushes: checked, and decoded to shard deeper than one level
	// pipes, when set (accesslog: pipes), turns access-log lines into a
	// push here, so deltas travel instead of lines.
	pipes func(lines []string) (*tree.Push, error)
}

// SetPipes makes the relay run access-log lines through run and forward
// the deltas it returns.
func (r *Relay) SetPipes(run func(lines []string) (*tree.Push, error)) { r.pipes = run }

// New opens the queues under dataDir (or cfg.Queue.Dir).
func New(cfg *Config, dataDir string, logf func(string, ...any)) (*Relay, error) {
	dir := cfg.Queue.Dir
	if dir == "" {
		dir = filepath.Join(dataDir, "relay")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create relay folder %q: %w", dir, err)
	}
	src, err := relayID(dir)
	if err != nil {
		return nil, err
	}
	r := &Relay{cfg: cfg, source: src, logf: logf,
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	var names []string
	for _, u := range cfg.Upstreams {
		sum := md5.Sum([]byte(u.URL))
		qdir := filepath.Join(dir, "q-"+hex.EncodeToString(sum[:8]))
		q, err := openQueue(qdir, cfg.Queue.MaxBytes)
		if err != nil {
			r.closeQueues()
			return nil, fmt.Errorf("upstream %s: %w", u.URL, err)
		}
		r.ups = append(r.ups, &upstream{cfg: u, q: q, source: src, client: r.client, compress: *cfg.Compress,
			batchMax: cfg.Batch.MaxBytes, retry: cfg.Batch.Retry, maxRetry: cfg.Batch.MaxRetry, logf: logf})
		names = append(names, u.URL)
	}
	r.ring = newRing(names)
	return r, nil
}

// relayID is this relay's name toward upstreams, kept in its folder so a
// restart continues the same numbering.
func relayID(dir string) (string, error) {
	path := filepath.Join(dir, "relay-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := "relay-" + hex.EncodeToString(b[:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("cannot write relay id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("cannot write relay id: %w", err)
	}
	return id, nil
}

// Start runs the forwarders until Close.
func (r *Relay) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, u := range r.ups {
		r.wg.Add(1)
		go func(u *upstream) {
			defer r.wg.Done()
			u.run(ctx)
		}(u)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, u := range r.ups {
					if err := u.q.Sync(); err != nil {
						r.logf("relay: %v", err)
					}
				}
			}
		}
	}()
}

// Close stops forwarding and closes the queues (what is queued stays on
// disk for the next start).
func (r *Relay) Close() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.closeQueues()
}

func (r *Relay) closeQueues() {
	for _, u := range r.ups {
		u.q.Sync()
		u.q.Close()
	}
}

// shard returns the upstream index that owns path.
func (r *Relay) shard(path []string) int {
	n := min(r.cfg.ShardDepth, len(path))
	return r.ring.get(key.Join(path[:n]))
}

// JSONPush is a checked JSON push, ready to queue.
type JSONPush struct {
	raw     []byte
	members []push.Member
	deltas  int
}

// Deltas returns the number of deltas (numbers and markers) in the push.
func (jp JSONPush) Deltas() int { return jp.deltas }

// CheckJSON checks a JSON push exactly as a daemon's decoder would, so
// that what the relay acknowledges the upstreams take.
func (r *Relay) CheckJSON(raw []byte) (JSONPush, error) {
	members, n, err := r.dec.Scan(raw)
	if err != nil {
		return JSONPush{}, err
	}
	return JSONPush{raw: raw, members: members, deltas: n}, nil
}

// PushJSON queues a checked JSON push for its upstreams. When it returns,
// the push is on disk.
func (r *Relay) PushJSON(jp JSONPush) error {
	if r.cfg.Mode == "replicate" || len(r.ups) == 1 {
		rec := append([]byte{kindJSON}, jp.raw...)
		for _, u := range r.ups {
			if _, err := u.q.Append(rec); err != nil {
				return err
			}
		}
		return nil
	}
	if r.cfg.ShardDepth > 1 {
		p, err := r.dec.Decode(jp.raw)
		if err != nil {
			return err
		}
		return r.pushSharded(p)
	}
	return r.pushMembers(jp)
}

// pushMembers shards a push by top-level name without decoding it: each
// upstream gets the members it owns, as they came, in their objects (with
// the object's defaultaction, which rules them).
func (r *Relay) pushMembers(jp JSONPush) error {
	owner := make([]int, len(jp.members))
	one, first := true, -1
	for i, m := range jp.members {
		owner[i] = -1
		if m.Name == "defaultaction" {
			continue
		}
		owner[i] = r.ring.get(m.Name)
		if first < 0 {
			first = owner[i]
		} else if owner[i] != first {
			one = false
		}
	}
	if first < 0 {
		return nil // nothing to merge
	}
	if one {
		// The common case of a push from one source: forward it whole.
		_, err := r.ups[first].q.Append(append([]byte{kindJSON}, jp.raw...))
		return err
	}
	list := jp.members[len(jp.members)-1].Object > 0
	for ui, u := range r.ups {
		rec := make([]byte, 0, len(jp.raw)/len(r.ups)+64)
		rec = append(rec, kindJSON)
		if list {
			rec = append(rec, '[')
		}
		objects := 0
		for i := 0; i < len(jp.members); {
			// one object: members i..j-1
			j := i
			for j < len(jp.members) && jp.members[j].Object == jp.members[i].Object {
				j++
			}
			var action []byte
			n := 0
			for k := i; k < j; k++ {
				switch owner[k] {
				case -1:
					action = jp.members[k].Raw
				case ui:
					if n == 0 {
						if objects > 0 {
							rec = append(rec, ',')
						}
						rec = append(rec, '{')
					} else {
						rec = append(rec, ',')
					}
					rec = append(rec, jp.members[k].Raw...)
					n++
				}
			}
			if n > 0 {
				if action != nil {
					rec = append(rec, ',')
					rec = append(rec, action...)
				}
				rec = append(rec, '}')
				objects++
			}
			i = j
		}
		if objects == 0 {
			continue
		}
		if list {
			rec = append(rec, ']')
		}
		if _, err := u.q.Append(rec); err != nil {
			return err
		}
	}
	return nil
}

func (r *Relay) pushSharded(p *tree.Push) error {
	for i, u := range r.ups {
		// Deltas come grouped by subtree: reuse the owner of the last
		// prefix instead of hashing every path.
		var lastPrefix []string
		lastOwner := -1
		mine := func(path []string) bool {
			prefix := path[:min(r.cfg.ShardDepth, len(path))]
			if lastOwner < 0 || !slices.Equal(prefix, lastPrefix) {
				lastPrefix, lastOwner = prefix, r.shard(path)
			}
			return lastOwner == i
		}
		part := p.FilterKinds(func(path []string) bool {
			// a defaultaction above the shard depth rules keys of every shard
			return len(path) < r.cfg.ShardDepth || mine(path)
		}, mine)
		if part.Len() == 0 {
			continue
		}
		rec, err := deltaRecord(part)
		if err != nil {
			return err
		}
		if _, err := u.q.Append(rec); err != nil {
			return err
		}
	}
	return nil
}

// deltaRecord encodes parsed deltas as a queue record. Unlike a JSON push,
// the encoding keeps the weight of averages (Delta.Samples).
func deltaRecord(p *tree.Push) ([]byte, error) {
	b, err := push.MarshalDeltas(p)
	if err != nil {
		return nil, err
	}
	return append([]byte{kindDeltas}, b...), nil
}

// PushDeltas queues parsed deltas (from sockets, or pipes run here).
func (r *Relay) PushDeltas(p *tree.Push) error {
	if r.cfg.Mode == "replicate" || len(r.ups) == 1 {
		rec, err := deltaRecord(p)
		if err != nil {
			return err
		}
		for _, u := range r.ups {
			if _, err := u.q.Append(rec); err != nil {
				return err
			}
		}
		return nil
	}
	return r.pushSharded(p)
}

// PushAccessLog queues access-log lines: as deltas when the relay runs
// pipes, else raw. Raw lines cannot be split by key, so in shard mode they
// go to the first upstream, which runs its pipes on them; replicate mode
// sends them to every upstream.
func (r *Relay) PushAccessLog(lines string) error {
	if r.pipes != nil {
		p, err := r.pipes(strings.Split(strings.TrimRight(lines, "\n"), "\n"))
		if err != nil {
			return err
		}
		if p.Len() == 0 {
			return nil
		}
		return r.PushDeltas(p)
	}
	rec := append([]byte{kindAccessLog}, lines...)
	targets := r.ups
	if r.cfg.Mode == "shard" {
		targets = r.ups[:1]
	}
	for _, u := range targets {
		if _, err := u.q.Append(rec); err != nil {
			return err
		}
	}
	return nil
}

// UpstreamStatus is one upstream in /status.
type UpstreamStatus struct {
	URL            string    `json:"url"`
	Up             bool      `json:"up"`
	QueuedRecords  uint64    `json:"queued_records"`
	QueuedBytes    int64     `json:"queued_bytes"`
	Unsent         uint64    `json:"unsent_records"`
	Dropped        uint64    `json:"dropped_records"`
	Sent           uint64    `json:"sent_records"`
	WireBytes      uint64    `json:"wire_bytes"`
	RawBytes       uint64    `json:"raw_bytes"`
	Failures       uint64    `json:"failures"`
	LastError      string    `json:"last_error,omitempty"`
	LastOK         time.Time `json:"last_ok,omitzero"`
	AppliedThrough uint64    `json:"applied_through"`
	DurableThrough uint64    `json:"durable_through"`
}

// Status reports every upstream.
func (r *Relay) Status() []UpstreamStatus {
	var out []UpstreamStatus
	for _, u := range r.ups {
		recs, bytes, dropped := u.q.Stats()
		u.mu.Lock()
		st := UpstreamStatus{URL: u.cfg.URL, Up: u.up.Load(), QueuedRecords: recs, QueuedBytes: bytes, Dropped: dropped,
			Sent: u.sentRecs.Load(), WireBytes: u.sentBytes.Load(), RawBytes: u.rawBytes.Load(), Failures: u.failures.Load(),
			LastError: u.lastErr, LastOK: u.lastOK, AppliedThrough: u.applied.Load(), DurableThrough: u.durable.Load()}
		u.mu.Unlock()
		if n := u.q.Next(); n > u.next.Load() {
			st.Unsent = n - u.next.Load()
		}
		out = append(out, st)
	}
	return out
}
