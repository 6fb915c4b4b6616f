package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeLog writes n numbered lines, one second apart from t0, gzipped
// when gz is set.
func writeLog(t *testing.T, path string, from, n int, t0 time.Time, gz bool) {
	var buf bytes.Buffer
	for i := from; i < from+n; i++ {
		ts := t0.Add(time.Duration(i) * time.Second).Format("02/Jan/2006:15:04:05 -0700")
		fmt.Fprintf(&buf, "line %07d [%s] x\n", i, ts)
	}
	data := buf.Bytes()
	if gz {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(data)
		w.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func timeOfTestLine(l []byte) (time.Time, bool) {
	i := bytes.IndexByte(l, '[')
	j := bytes.IndexByte(l, ']')
	if i < 0 || j < i {
		return time.Time{}, false
	}
	ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", string(l[i+1:j]))
	return ts, err == nil
}

// TestReplay reads a gzipped and a plain file in order, and ticks at every
// 10 s boundary of the log's clock with exactly the lines before it applied.
func TestReplay(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 5, 0, 0, 3, 0, time.UTC)
	writeLog(t, filepath.Join(dir, "a.log.gz"), 0, 95, t0, true)
	writeLog(t, filepath.Join(dir, "b.log"), 95, 50, t0, false)
	c := newLineCounter(200)
	var ticks []string
	res, err := Replay(context.Background(), []string{filepath.Join(dir, "a.log.gz"), filepath.Join(dir, "b.log")}, ReplayOptions{
		Consumer: c, BatchLines: 7, TimeOf: timeOfTestLine, Interval: 10 * time.Second,
		Tick: func(b time.Time) error {
			// Lines before b are all applied, none after it.
			ticks = append(ticks, fmt.Sprintf("%s:%d", b.Format("15:04:05"), c.total.Load()))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != 145 || c.total.Load() != 145 {
		t.Fatalf("replayed %d lines (consumer saw %d), want 145", res.Lines, c.total.Load())
	}
	for i, s := range c.seen[:145] {
		if s != 1 {
			t.Fatalf("line %d seen %d times", i, s)
		}
	}
	// Line i is at 00:00:03+i s: the boundary 00:00:10 has lines 0..6 before it.
	want := "00:00:10:7 00:00:20:17 00:00:30:27"
	if got := strings.Join(ticks[:3], " "); got != want {
		t.Errorf("first ticks = %s, want %s", got, want)
	}
	if last := ticks[len(ticks)-1]; last != "00:02:30:145" || len(ticks) != 15 {
		t.Errorf("ticks = %v, want 15 ending at 00:02:30:145", ticks)
	}
}

func TestReplayer(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, filepath.Join(dir, "old.log.gz"), 0, 1000, time.Now(), true)
	c := newLineCounter(1000)
	release := make(chan struct{})
	rp := &Replayer{Options: func(src Source) ReplayOptions {
		if src.LogFormat != "combined" || src.Prefix != "old" {
			t.Errorf("source = %+v, want log_format combined, prefix old", src)
		}
		return ReplayOptions{Source: src, Consumer: ConsumerFunc(func(b *Batch) error {
			<-release // hold the replay until the second Start is refused
			return c.Consume(b)
		})}
	}}
	src := Source{Name: "replay", LogFormat: "combined", Prefix: "old"}
	files := []string{filepath.Join(dir, "old.log.gz")}
	st, err := rp.Start(files, src)
	if err != nil || !st.Running || len(st.Files) != 1 {
		t.Fatalf("Start: %+v %v, want a running replay of one file", st, err)
	}
	if _, err := rp.Start(files, src); !errors.Is(err, ErrReplayRunning) {
		t.Errorf("second Start: %v, want ErrReplayRunning", err)
	}
	close(release)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st = rp.State(); !st.Running {
			break
		}
	}
	if st.Running || st.Lines != 1000 || st.Error != "" || st.Finished == nil || c.total.Load() != 1000 {
		t.Fatalf("replay state %+v, consumer saw %d; want 1000 lines done", st, c.total.Load())
	}
}
