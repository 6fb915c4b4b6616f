package chaos

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// accessLine is one combined-format line; i makes every line distinct.
func accessLine(i int) string {
	return fmt.Sprintf("10.0.%d.%d - - [06/Dec/2026:12:00:00 +0000] \"GET /p/%d HTTP/1.1\" 200 %d \"-\" \"chaos/1.0\"\n", i>>8&255, i&255, i%97, 100+i%900)
}

// waitNumber polls key until it equals want or timeout passes; it returns
// the last value read.
func waitNumber(t *testing.T, base, key string, want float64, timeout time.Duration) float64 {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = getNumber(t, base, key); got == want {
			return got
		}
	}
	return got
}

// TestCrashFollow: while a writer appends lines at a steady rate, canopyd
// is killed with SIGKILL three times at random moments and restarted on the
// same data dir; in the end the tree counts every line exactly once.
func TestCrashFollow(t *testing.T) {
	const (
		lines = 150_000
		rate  = 2_500 // lines per second: a minute of writing
	)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	must(t, os.WriteFile(logPath, nil, 0o644))
	d := startDaemon(t, fmt.Sprintf("sources:\n  - {path: %q, log_format: combined}\n", logPath), []string{"status"}, "-snapshot.interval", "1s")

	var written atomic.Int64
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < lines; {
			<-tick.C
			for k := 0; k < rate/100 && i < lines; k++ {
				w.WriteString(accessLine(i))
				i++
			}
			if err := w.Flush(); err != nil {
				done <- err
				return
			}
			written.Store(int64(i))
		}
		done <- nil
	}()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 22))
	period := time.Duration(lines/rate) * time.Second
	var kills []string
	start := time.Now()
	for k := range 3 {
		// a random moment in each third of the writing
		at := time.Duration(k)*period/3 + time.Duration(rng.Int64N(int64(period/3-4*time.Second)))
		time.Sleep(time.Until(start.Add(at)))
		kills = append(kills, fmt.Sprintf("%d", written.Load()))
		d.Kill()
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second)))) // lines pile up while it is down
		d.Start()
		t.Logf("kill %d at line %s", k+1, kills[k])
	}
	must(t, <-done)
	waitNumber(t, d.URL(), "requests", lines, 90*time.Second)
	time.Sleep(2 * time.Second) // anything counted twice would show by now
	got := getNumber(t, d.URL(), "requests")
	if got != lines {
		t.Errorf("tree counts %.0f requests, %d lines written: %+.0f", got, lines, got-lines)
	}
	report(t, "%d lines at %d/s, kill -9 at lines %v: tree has %.0f (lost %.0f, duplicated %.0f)", lines, rate, kills, got, max(0, lines-got), max(0, got-lines))
}
