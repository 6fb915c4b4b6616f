package ingest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/loggen"
)

// TestBadInput feeds the real canopyd binary garbage, a 1 MiB line, invalid
// UTF-8 and truncated lines between good ones: each bad line is counted in
// /status, a sample is logged (rate-limited), and the good lines count
// exactly as if the bad ones were not there.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	good, _, err := loggen.Lines(loggen.Config{Lines: 300, Seed: 9, Format: "main"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			for b[i] = byte(rng.IntN(256)); b[i] == '\n' || b[i] == '\r'; b[i] = byte(rng.IntN(256)) {
			}
		}
		return append(b, '\n')
	}
	var bad [][]byte
	for _, n := range []int{17, 512, 4000} {
		bad = append(bad, garbage(n)) // binary garbage
	}
	bad = append(bad, append(bytes.Repeat([]byte("A"), 1<<20), '\n')) // a 1 MiB line
	inv := bytes.Replace(good[0], []byte("Mozilla"), []byte("Moz\xff\xfeilla"), 1)
	if bytes.Equal(inv, good[0]) {
		inv = append([]byte("\xc3\x28"), good[0]...)
	}
	bad = append(bad, inv)                           // invalid UTF-8
	bad = append(bad, append(good[1][:40:40], '\n')) // truncated
	bad = append(bad, append(good[2][:len(good[2])/2:len(good[2])/2], '\n'))

	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Good lines with the bad ones spread among them, in two bursts.
	write := func(lines [][]byte) {
		for _, l := range lines {
			f.Write(l)
		}
	}
	mixed := func(from, to int, bads [][]byte) [][]byte {
		var out [][]byte
		step := (to - from) / (len(bads) + 1)
		for i, g := range good[from:to] {
			out = append(out, g)
			if i > 0 && i%step == 0 && len(bads) > 0 {
				out = append(out, bads[0])
				bads = bads[1:]
			}
		}
		return append(out, bads...)
	}
	write(mixed(3, 150, bad[:4]))
	d := startDaemon(t, filepath.Join(dir, "data"), wasmCache(t), "", "-log", logPath, "-log.format", "main")
	time.Sleep(300 * time.Millisecond)
	write(mixed(150, 300, bad[4:]))
	f.Close()
	fi, _ := os.Stat(logPath)
	d.waitCaughtUp(logPath, fi.Size(), 2*time.Minute)

	wantGood := 300 - 3
	got := d.flat("requests")
	if v, _ := got["requests"].(float64); int(v) != wantGood {
		t.Errorf("requests = %v, want %d", got["requests"], wantGood)
	}
	st, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Ingest.Bad != uint64(len(bad)) {
		t.Errorf("/status ingest.bad_lines = %d, want %d", st.Ingest.Bad, len(bad))
	}
	// Still serving.
	if _, err := d.status(); err != nil {
		t.Fatalf("daemon stopped serving: %v", err)
	}
	out := d.output()
	samples := strings.Count(out, "sampled at most every 10 s")
	if samples < 1 || samples > 3 {
		t.Errorf("logged %d bad-line samples, want 1–3 (one per kind of check, rate-limited):\n%s", samples, tail(out, 3000))
	}
	if strings.Contains(out, strings.Repeat("A", 1000)) {
		t.Errorf("the 1 MiB line was logged whole")
	}
	t.Logf("%d good lines counted, %d bad counted in /status; %d log samples", wantGood, st.Ingest.Bad, samples)
}
