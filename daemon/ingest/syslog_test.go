package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

func TestStripSyslog(t *testing.T) {
	const line = `127.0.0.1 - - [26/Nov/2026:12:39:16 +0000] "GET /a: b HTTP/1.1" 200 5 "-" "curl/8.0"`
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"hostname", "<190>Nov 26 12:39:16 web1 nginx: " + line, line, true},
		{"nohostname", "<190>Nov 26 12:39:16 nginx: " + line, line, true},
		{"padded day", "<190>Nov  6 02:09:06 web1 nginx: " + line, line, true},
		{"custom tag with pid", "<14>Jan 01 00:00:00 host site_a[123]: " + line, line, true},
		{"trailing newline", "<190>Nov 26 12:39:16 web1 nginx: " + line + "\n", line, true},
		{"empty message", "<190>Nov 26 12:39:16 web1 nginx: ", "", true},
		{"no pri", "Nov 26 12:39:16 web1 nginx: " + line, "", false},
		{"pri too big", "<192>Nov 26 12:39:16 web1 nginx: " + line, "", false},
		{"bad month", "<190>Foo 26 12:39:16 web1 nginx: " + line, "", false},
		{"no tag", "<190>Nov 26 12:39:16 " + line, "", false},
		{"bare line", line, "", false},
		{"binary", "\x00\xff<\x01>", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := StripSyslog([]byte(tc.in))
			if ok != tc.ok || string(got) != tc.want {
				t.Errorf("StripSyslog(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzStripSyslog: never panics; a message is always a tail of the input
// without line ends; a frame built from parts gives its message back.
func FuzzStripSyslog(f *testing.F) {
	f.Add([]byte("<190>Nov 26 12:39:16 web1 nginx: 127.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 1"), "web1", "nginx", "GET / x")
	f.Add([]byte("<0>Jan  1 00:00:00 t: m"), "", "t", "m")
	f.Add([]byte("<1"), "h", "tag[1]", "")
	f.Fuzz(func(t *testing.T, raw []byte, host, tag, msg string) {
		if got, ok := StripSyslog(raw); ok {
			if !bytes.HasSuffix(bytes.TrimRight(raw, "\r\n"), got) {
				t.Fatalf("message %q is not a tail of %q", got, raw)
			}
		}
		if !saneToken(host, true) || !saneToken(tag, false) || bytes.ContainsAny([]byte(msg), "\r\n") || len(msg) > 0 && bytes.ContainsAny([]byte(msg[len(msg)-1:]), " ") {
			return
		}
		frame := "<190>Nov 26 12:39:16 "
		if host != "" {
			frame += host + " "
		}
		frame += tag + ": " + msg
		got, ok := StripSyslog([]byte(frame))
		if !ok || string(got) != msg {
			t.Fatalf("StripSyslog(%q) = %q, %v; want %q", frame, got, ok, msg)
		}
	})
}

// saneToken: what nginx can put as hostname or tag (no spaces or colons,
// tag non-empty, short).
func saneToken(s string, mayBeEmpty bool) bool {
	if s == "" {
		return mayBeEmpty
	}
	if len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c == ':' || c >= 0x7f {
			return false
		}
	}
	return true
}

type collect struct {
	mu    sync.Mutex
	lines []string
}

func (c *collect) Consume(b *Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range b.Lines {
		c.lines = append(c.lines, string(l))
	}
	return nil
}

func (c *collect) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

func TestSyslogListener(t *testing.T) {
	c := &collect{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := ListenSyslog(ctx, "127.0.0.1:0", Source{}, c, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := 0; i < n; i++ {
		fmt.Fprintf(conn, "<190>Nov 26 12:39:16 web1 nginx: line %07d", i)
		if i%200 == 0 {
			time.Sleep(time.Millisecond) // loopback UDP still has a finite buffer
		}
	}
	conn.Write([]byte("not syslog"))
	deadline := time.Now().Add(5 * time.Second)
	for (c.len() < n || l.BadFrames.Load() < 1) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	l.Close()
	if c.len() != n || l.BadFrames.Load() != 1 {
		t.Fatalf("got %d lines, %d bad frames; want %d, 1", c.len(), l.BadFrames.Load(), n)
	}
	for i, s := range c.lines {
		if want := fmt.Sprintf("line %07d", i); s != want {
			t.Fatalf("line %d = %q, want %q", i, s, want)
		}
	}
}
