package host

import (
	"fmt"
	"sync"
	"time"
)

// Quarantine defaults: 5 failures within a minute.
const (
	DefaultMaxFailures   = 5
	DefaultFailureWindow = time.Minute
)

// Breaker counts a guest's failures and quarantines it after Max failures
// within Window. Safe for concurrent use.
type Breaker struct {
	Max    int
	Window time.Duration
	// Now is the clock (time.Now when nil); tests replace it.
	Now func() time.Time

	mu          sync.Mutex
	recent      []time.Time
	total       uint64
	lastErr     string
	quarantined bool
	reason      string
	since       time.Time
}

// BreakerStatus is a Breaker's state for /status.
type BreakerStatus struct {
	Failures         uint64    `json:"failures"`
	LastError        string    `json:"last_error,omitempty"`
	Quarantined      bool      `json:"quarantined"`
	QuarantineReason string    `json:"quarantine_reason,omitempty"`
	QuarantinedSince time.Time `json:"quarantined_since,omitzero"`
	FailuresInWindow int       `json:"failures_in_window"`
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Fail records a failure and reports whether the guest is now quarantined.
func (b *Breaker) Fail(err error) bool {
	max, window := b.Max, b.Window
	if max <= 0 {
		max = DefaultMaxFailures
	}
	if window <= 0 {
		window = DefaultFailureWindow
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total++
	b.lastErr = err.Error()
	keep := b.recent[:0]
	for _, t := range b.recent {
		if now.Sub(t) < window {
			keep = append(keep, t)
		}
	}
	b.recent = append(keep, now)
	if !b.quarantined && len(b.recent) >= max {
		b.quarantined = true
		b.since = now
		b.reason = fmtReason(len(b.recent), window, b.lastErr)
	}
	return b.quarantined
}

// Quarantine quarantines the guest at once (e.g. it cannot even load).
func (b *Breaker) Quarantine(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.quarantined {
		b.quarantined, b.reason, b.since = true, reason, b.now()
	}
}

// Quarantined reports whether the guest is quarantined.
func (b *Breaker) Quarantined() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.quarantined
}

// Status returns the breaker's state.
func (b *Breaker) Status() BreakerStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BreakerStatus{Failures: b.total, LastError: b.lastErr, Quarantined: b.quarantined,
		QuarantineReason: b.reason, QuarantinedSince: b.since, FailuresInWindow: len(b.recent)}
}

func fmtReason(n int, window time.Duration, last string) string {
	return fmt.Sprintf("%d failures within %s; last: %s", n, window, last)
}
