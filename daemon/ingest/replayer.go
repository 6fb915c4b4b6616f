package ingest

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrReplayRunning is returned by Replayer.Start while a replay runs.
var ErrReplayRunning = errors.New("a replay is already running")

// Replayer lets a running daemon replay old logs into its tree, one replay
// at a time, in the background (the daemon serves it as POST and GET
// /replay).
type Replayer struct {
	// Options builds the replay options for a replay's source.
	Options func(src Source) ReplayOptions
	Ctx     context.Context

	mu      sync.Mutex
	running bool
	state   ReplayState
}

// ReplayState is the progress of the running (or last) replay.
type ReplayState struct {
	Files    []string   `json:"files"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Running  bool       `json:"running"`
	Lines    uint64     `json:"lines"`
	TooLong  uint64     `json:"lines_too_long"`
	Bytes    int64      `json:"bytes"`
	Total    int64      `json:"total_bytes"`
	Ticks    int        `json:"ticks,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// State returns the running (or last) replay's progress.
func (a *Replayer) State() ReplayState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// Start replays files (paths on the daemon's host) read as src in the
// background and returns its state at the start, or ErrReplayRunning.
func (a *Replayer) Start(files []string, src Source) (ReplayState, error) {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return ReplayState{}, ErrReplayRunning
	}
	a.running = true
	a.state = ReplayState{Files: files, Started: time.Now(), Running: true}
	a.mu.Unlock()
	opt := a.Options(src)
	opt.Progress = func(p ReplayProgress) {
		a.mu.Lock()
		a.state.Lines, a.state.TooLong, a.state.Bytes, a.state.Total = p.Lines, p.TooLong, p.Bytes, p.TotalBytes
		a.mu.Unlock()
	}
	ctx := a.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	go func() {
		res, err := Replay(ctx, files, opt)
		now := time.Now()
		a.mu.Lock()
		a.running = false
		a.state.Running, a.state.Finished = false, &now
		a.state.Lines, a.state.TooLong, a.state.Ticks = res.Lines, res.TooLong, res.Ticks
		if err != nil {
			a.state.Error = err.Error()
		}
		a.mu.Unlock()
	}()
	return a.State(), nil
}
