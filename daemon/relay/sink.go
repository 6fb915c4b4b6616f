package relay

import (
	"strings"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Sink lets push sockets (daemon/listen) deliver into the relay's queues
// as if it were a tree.
func (r *Relay) Sink() Sink { return Sink{r} }

// Sink implements listen.Merger (and listen.JSONMerger) over a Relay.
type Sink struct{ r *Relay }

// Apply queues deltas.
func (s Sink) Apply(deltas []tree.Delta) (tree.MergeResult, error) {
	err := s.r.PushDeltas(&tree.Push{Deltas: deltas})
	return tree.MergeResult{Numbers: len(deltas)}, err
}

// SetAction queues a defaultaction.
func (s Sink) SetAction(path []string, a tree.Action) error {
	p := &tree.Push{}
	p.AddAction(path, a)
	return s.r.PushDeltas(p)
}

// Merge queues a decoded push.
func (s Sink) Merge(p *tree.Push) (tree.MergeResult, error) {
	return tree.MergeResult{Numbers: len(p.Deltas)}, s.r.PushDeltas(p)
}

// MergeJSON validates and queues one JSON push as it came
// (listen.JSONMerger).
func (s Sink) MergeJSON(data []byte) (tree.MergeResult, error) {
	jp, err := s.r.CheckJSON(data)
	if err != nil {
		return tree.MergeResult{}, err
	}
	return tree.MergeResult{Numbers: jp.Deltas()}, s.r.PushJSON(jp)
}

// Get finds nothing: a relay holds no values (a StatsD gauge delta at a
// relay starts from zero).
func (s Sink) Get(*key.Pattern) []tree.Entry { return nil }

// AccessLog queues access-log lines from sockets for the upstreams' pipes.
func (r *Relay) AccessLog() push.AccessLogFunc {
	return func(lines []string) (push.AccessLogResult, error) {
		if err := r.PushAccessLog(strings.Join(lines, "\n") + "\n"); err != nil {
			return push.AccessLogResult{}, err
		}
		return push.AccessLogResult{Lines: len(lines)}, nil
	}
}
