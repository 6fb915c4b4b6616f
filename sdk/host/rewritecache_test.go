package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/rewrite.golden (only with a new rewriteVersion)")

// section encodes one module section.
func section(id byte, body ...byte) []byte {
	return append(appendU32([]byte{id}, uint32(len(body))), body...)
}

// countModule is a module with a loop and two data segments:
//
//	(memory (export "memory") 1)
//	(data (i32.const 16) "ab") (data (i32.const 40) "cd")
//	(func (export "count") (param $n i32) (result i32) (local $acc i32)
//	  (block (loop
//	    (br_if 1 (i32.eqz (local.get $n)))
//	    (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
//	    (local.set $n (i32.sub (local.get $n) (i32.const 1)))
//	    (br 0)))
//	  (local.get $acc))
func countModule() []byte {
	body := []byte{0x01, 0x01, 0x7f, // one i32 local
		0x02, 0x40, 0x03, 0x40, // block loop
		0x20, 0x00, 0x45, 0x0d, 0x01,
		0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01,
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00,
		0x0c, 0x00, 0x0b, 0x0b,
		0x20, 0x01, 0x0b}
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	wasm = append(wasm, section(1, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f)...)
	wasm = append(wasm, section(3, 0x01, 0x00)...)
	wasm = append(wasm, section(5, 0x01, 0x00, 0x01)...)
	exports := []byte{0x02, 0x06}
	exports = append(exports, "memory"...)
	exports = append(exports, 0x02, 0x00, 0x05)
	exports = append(exports, "count"...)
	exports = append(exports, 0x00, 0x00)
	wasm = append(wasm, section(7, exports...)...)
	wasm = append(wasm, section(10, append(appendU32([]byte{0x01}, uint32(len(body))), body...)...)...)
	return append(wasm, section(11, dataBody(seg(16, []byte("ab")), seg(40, []byte("cd")))...)...)
}

// entry encodes a cache entry; edit changes its header or payload first.
func entry(sum [sha256.Size]byte, payload []byte, edit func(header, payload []byte)) []byte {
	payload = bytes.Clone(payload)
	h := appendRewriteHeader(nil, sum, payload)
	if edit != nil {
		edit(h, payload)
	}
	return append(h, payload...)
}

// TestRewriteCache: a sound entry is used as is; anything else is
// rewritten from the input and the entry replaced by a sound one.
func TestRewriteCache(t *testing.T) {
	in := countModule()
	want, err := instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(in)
	other := sha256.Sum256([]byte("another module"))
	// A sound entry whose payload is not instrument's output shows the
	// cache was read rather than the input rewritten.
	planted := append(bytes.Clone(want), 0x00, 0x01)
	for _, tc := range []struct {
		name  string
		entry []byte // nil: no file
		want  []byte
	}{
		{"missing", nil, want},
		{"sound", entry(sum, planted, nil), planted},
		{"empty", []byte{}, want},
		{"torn header", entry(sum, want, nil)[:rewriteHeaderLen-3], want},
		{"torn payload", entry(sum, want, nil)[:rewriteHeaderLen+len(want)/2], want},
		{"corrupt payload", entry(sum, planted, func(_, p []byte) { p[len(p)/2] ^= 0x40 }), want},
		{"bad magic", entry(sum, planted, func(h, _ []byte) { h[0] = 'x' }), want},
		{"other version", entry(sum, planted, func(h, _ []byte) {
			binary.LittleEndian.PutUint32(h[len(rewriteMagic):], rewriteVersion+1)
		}), want},
		{"other input", entry(other, planted, nil), want},
		{"long length", entry(sum, planted, func(h, _ []byte) {
			binary.LittleEndian.PutUint64(h[len(rewriteMagic)+4:], uint64(len(planted)+1))
		}), want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rewriteCache{dir: t.TempDir()}
			path := c.path(sum)
			if tc.entry != nil {
				if err := os.WriteFile(path, tc.entry, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.rewrite(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("rewrite returned %d bytes, want %d (%s)", len(got), len(tc.want), map[bool]string{true: "the rewrite", false: "the entry"}[bytes.Equal(tc.want, want)])
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("no entry after rewrite: %v", err)
			}
			if p, ok := parseRewrite(b, sum); !ok || !bytes.Equal(p, tc.want) {
				t.Errorf("entry after rewrite: sound %v, %d payload bytes; want %d", ok, len(p), len(tc.want))
			}
			if ents, _ := os.ReadDir(c.dir); len(ents) != 1 {
				t.Errorf("cache holds %d files, want the entry alone", len(ents))
			}
		})
	}
}

// TestRewriteCacheUnwritable: when entries cannot be written (the cache
// folder is a file or read-only) or read (an entry is a folder), modules
// still compile and run, rewritten in memory.
func TestRewriteCacheUnwritable(t *testing.T) {
	in := countModule()
	sum := sha256.Sum256(in)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) error
	}{
		{"cache folder is a file", func(_ *testing.T, dir string) error {
			return os.WriteFile(filepath.Join(dir, rewriteDir), []byte("not a folder"), 0o600)
		}},
		{"cache folder is read-only", func(t *testing.T, dir string) error {
			if os.Geteuid() == 0 {
				t.Skip("root writes into read-only folders")
			}
			return os.Mkdir(filepath.Join(dir, rewriteDir), 0o500)
		}},
		{"entry is a folder", func(_ *testing.T, dir string) error {
			return os.MkdirAll(rewriteCache{dir: filepath.Join(dir, rewriteDir)}.path(sum), 0o700)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.setup(t, dir); err != nil {
				t.Fatal(err)
			}
			for run := range 2 { // a miss, then what a second start finds
				e, err := NewEngine(dir)
				if err != nil {
					t.Fatal(err)
				}
				checkCount(t, e, in)
				if err := e.Close(); err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
			}
		})
	}
}

// checkCount compiles countModule with e and runs count(7) in a fresh
// instance.
func checkCount(t *testing.T, e *Engine, wasm []byte) {
	t.Helper()
	ctx := context.Background()
	m, err := e.Compile(ctx, "count", wasm, Limits{}, Grants{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	in, err := m.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	if got, err := in.Call(ctx, in.Func("count"), 7); err != nil || got != 7 {
		t.Fatalf("count(7) = %d, %v; want 7", got, err)
	}
}

// TestRewriteCacheEngine: an engine with a disk cache writes an entry at
// the first compile and runs the module from it at the next start, and
// from a rewrite when the entry was damaged meanwhile.
func TestRewriteCacheEngine(t *testing.T) {
	in := countModule()
	dir := t.TempDir()
	path := rewriteCache{dir: filepath.Join(dir, rewriteDir)}.path(sha256.Sum256(in))
	for _, damage := range []bool{false, false, true} {
		if damage {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-2] ^= 0xff
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		e, err := NewEngine(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkCount(t, e, in)
		e.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("no entry: %v", err)
		}
		if _, ok := parseRewrite(b, sha256.Sum256(in)); !ok {
			t.Fatalf("entry not sound after a compile (damaged before: %v)", damage)
		}
	}
}

// TestRewriteVersion fails when instrument's output for countModule changes
// while rewriteVersion does not: caches filled by the old code would then
// be used as if the new code had written them.
func TestRewriteVersion(t *testing.T) {
	out, err := instrument(countModule())
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("rewriteVersion %d\nsha256 %x\n", rewriteVersion, sha256.Sum256(out))
	const golden = "testdata/rewrite.golden"
	b, err := os.ReadFile(golden)
	if err != nil && !*update {
		t.Fatal(err)
	}
	want := string(b)
	if got == want {
		return
	}
	wantVersion, _, _ := strings.Cut(want, "\n")
	sameVersion := wantVersion == fmt.Sprintf("rewriteVersion %d", rewriteVersion)
	switch {
	case sameVersion:
		t.Fatalf("instrument's output changed (%s, was %s) but rewriteVersion is still %d: increase it (interrupt.go), then run go test -run TestRewriteVersion -update",
			strings.TrimSpace(got), strings.TrimSpace(want), rewriteVersion)
	case *update:
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("%s says\n%swant\n%s(run go test -run TestRewriteVersion -update)", golden, want, got)
	}
}
