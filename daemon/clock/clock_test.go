package clock

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestRunOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []string
	var times []time.Time
	step := func(name string) func(time.Time) {
		return func(now time.Time) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, name)
			times = append(times, now)
			if len(got) == 6 {
				cancel()
			}
		}
	}
	done := make(chan struct{})
	go func() {
		Run(ctx, time.Millisecond, step("pipes"), step("trend"), step("tree"))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop when its context ended")
	}
	if want := []string{"pipes", "trend", "tree", "pipes", "trend", "tree"}; !slices.Equal(got, want) {
		t.Errorf("steps ran %q, want %q", got, want)
	}
	if times[0] != times[2] || !times[3].After(times[2]) {
		t.Errorf("tick times %v: want one time per tick, later each tick", times)
	}
}
