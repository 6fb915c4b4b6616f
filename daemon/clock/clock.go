// Package clock is canopy's one periodic clock: a single ticker whose
// every tick runs the daemon's periodic steps (pipe ticks, the trend
// write, the tree's new averaging window) one after the other, in a fixed
// order, so no step sees another half done.
package clock

import (
	"context"
	"time"
)

// Run calls steps in order, each with the tick's time, every interval
// until ctx ends. A step that takes longer than interval delays the next
// tick; ticks are not queued up.
func Run(ctx context.Context, interval time.Duration, steps ...func(now time.Time)) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tk.C:
			for _, step := range steps {
				step(now)
			}
		}
	}
}
