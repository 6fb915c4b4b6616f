package uacache

import (
	"fmt"
	"testing"
)

// TestCache checks that Get computes each agent once, hands back what was
// computed for it whether it is found in the recent table or the map (two
// agents sharing a slot included), owns its keys, and starts over at size.
func TestCache(t *testing.T) {
	// Agents that share a slot: equal length and sampled words.
	a, b := "Mozilla/5.0 (Linux; Android 10; SM-G973F) Chrome/120", "Mozilla/5.0 (Linux; Android 10; SM-G975F) Chrome/120"
	if slot(a) != slot(b) {
		t.Fatalf("want %q and %q in one slot", a, b)
	}
	agents := []string{a, b, "curl/8.4.0", "x", "", a, b, a, "curl/8.4.0", "Wget/1.21"}
	c := New[string](4)
	for round := range 3 {
		for i, ua := range agents {
			buf := []byte(ua) // the caller's buffer, reused below
			e := c.Get(string(buf), func(k string) string { return "v:" + k })
			clear(buf)
			if e.Key != ua || e.Value != "v:"+ua {
				t.Errorf("round %d, agent %d: got %q → %q, want %q → %q", round, i, e.Key, e.Value, ua, "v:"+ua)
			}
			if c.Len() > 4 {
				t.Fatalf("cache grew to %d entries, cap 4", c.Len())
			}
		}
	}
	c = New[string](100)
	fills := 0
	for range 3 {
		for i := range 50 {
			ua := fmt.Sprintf("Mozilla/5.0 agent %d", i)
			if e := c.Get(ua, func(k string) string { fills++; return k }); e.Value != ua {
				t.Fatalf("got %q for %q", e.Value, ua)
			}
		}
	}
	if fills != 50 {
		t.Errorf("%d fills for 50 agents that fit", fills)
	}
}
