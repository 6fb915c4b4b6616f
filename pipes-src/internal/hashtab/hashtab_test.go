package hashtab

import "testing"

func TestTable(t *testing.T) {
	var tb Table
	if _, ok := tb.Get(1); ok {
		t.Fatal("empty table has key 1")
	}
	want := map[uint64]int32{}
	for i := range 5000 {
		k := uint64(i) * 0x9E3779B97F4A7C15 // spread like real hashes, plus 0 and colliding low bits below
		if i%7 == 0 {
			k = uint64(i) << 40
		}
		tb.Put(k, int32(i))
		want[k] = int32(i)
	}
	tb.Put(0, -1)
	want[0] = -1
	if tb.Len() != len(want) {
		t.Fatalf("Len %d, want %d", tb.Len(), len(want))
	}
	for k, v := range want {
		if got, ok := tb.Get(k); !ok || got != v {
			t.Fatalf("Get(%#x) = %d, %v; want %d", k, got, ok, v)
		}
	}
	if _, ok := tb.Get(12345); ok {
		t.Errorf("absent key found")
	}
	tb.Clear()
	if _, ok := tb.Get(0); ok || tb.Len() != 0 {
		t.Errorf("Clear left keys")
	}
}
