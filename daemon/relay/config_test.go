package relay

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestExampleRelayConfig(t *testing.T) {
	c, err := LoadConfig("../../conf/relay.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "shard" || c.ShardDepth != 1 || len(c.Upstreams) != 1 || !*c.Compress {
		t.Errorf("unexpected example config: %+v", c)
	}
}

func TestBadRelayConfigs(t *testing.T) {
	tests := []struct{ conf, want string }{
		{"mode: shard\n", "no upstreams"},
		{"upstreams: [{url: 'ftp://x'}]\n", "want http://host:port"},
		{"upstreams: [{url: 'http://a:1'}, {url: 'http://a:1'}]\n", "listed twice"},
		{"upstreams: [{url: 'http://a:1'}]\nmode: mirror\n", `mode "mirror"`},
		{"upstreams: [{url: 'http://a:1'}]\naccesslog: drop\n", `accesslog "drop"`},
		{"upstreams: [{url: 'http://a:1'}]\nqueue: {max_bytes: 10}\n", "queue.max_bytes"},
		{"upstreams: [{url: 'http://a:1'}]\nupstream: x\n", `unknown key "upstream"`},
		{"upstreams: [{url: 'http://a:1'}]\nlisteners: [{proto: tcp, listen: ':1', format: nope}]\n", `format "nope"`},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), "relay.conf")
		os.WriteFile(path, []byte(tc.conf), 0o644)
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want containing %q", tc.conf, err, tc.want)
		}
	}
}

func TestRingMovesOnlyItsShare(t *testing.T) {
	before := newRing([]string{"http://a", "http://b"})
	after := newRing([]string{"http://a", "http://b", "http://c"})
	moved, toNew := 0, 0
	const keys = 10000
	for i := 0; i < keys; i++ {
		k := "key" + strconv.Itoa(i)
		b, a := before.get(k), after.get(k)
		if a != b {
			moved++
			if a == 2 {
				toNew++
			}
		}
	}
	if moved != toNew {
		t.Errorf("%d keys moved between old upstreams; only moves to the new one are allowed", moved-toNew)
	}
	if share := float64(toNew) / keys; share < 0.2 || share > 0.5 {
		t.Errorf("new upstream took %.0f%% of keys, want about a third", share*100)
	}
}

func TestQueueOrderBoundAndRestart(t *testing.T) {
	dir := t.TempDir()
	q, err := openQueue(dir, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("j" + strings.Repeat("x", 1000))
	for i := 0; i < 200; i++ {
		if seq, err := q.Append(payload); err != nil || seq != uint64(i+1) {
			t.Fatalf("append %d: seq %d err %v", i, seq, err)
		}
	}
	recs, _, dropped := q.Stats()
	if dropped == 0 || recs+dropped != 200 {
		t.Errorf("over the bound: %d records kept, %d dropped; want drops adding up to 200", recs, dropped)
	}
	got, next, err := q.Read(1, 1<<20)
	if err != nil || next != 201 || uint64(len(got)) != recs {
		t.Errorf("read: %d records, next %d, err %v; want %d records, next 201", len(got), next, err, recs)
	}
	q.Close()
	// A torn record at the end (crash mid-write) is cut; numbering goes on.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	last := segs[len(segs)-1]
	f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{1, 2, 3, 4, 5})
	f.Close()
	q2, err := openQueue(dir, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	if seq, err := q2.Append(payload); err != nil || seq != 201 {
		t.Errorf("after restart: seq %d err %v, want 201", seq, err)
	}
	q2.Release(150)
	if got, _, _ := q2.Read(151, 1<<20); len(got) != 51 {
		t.Errorf("after release: %d records from 151, want 51", len(got))
	}
}
