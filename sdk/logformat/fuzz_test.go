package logformat

import (
	"bytes"
	"encoding/binary"
	"testing"
)

var fuzzFormats = []*Format{
	MustCompile("combined"),
	MustCompile("main"),
	MustCompile("json"),
	MustCompile(`log_format j escape=json '{"t":"$time_iso8601","r":"$request","s":$status,"u":"$upstream_response_time","m":"$msec"}';`),
	MustCompile(`$remote_addr|$time_iso8601|$request_uri|$status|$bytes_sent|$request_time|$http_user_agent`),
}

// FuzzParse checks that no input makes Parse panic and that accepted lines
// yield sane typed fields.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`203.0.113.9 - - [10/Oct/2023:13:55:36 -0700] "GET /a/b.html?x=1 HTTP/1.1" 200 2326 "http://e.com/" "` + chromeUA + `"`,
		`10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "POST /api HTTP/2.0" 502 157 "-" "curl/8.4.0" 0.015 0.010, 0.004 : -`,
		`{"t":"2024-03-01T12:00:00+00:00","r":"GET / HTTP/1.1","s":200,"u":"0.1","m":"1700000000.5"}`,
		`{"time":"x","status":"\ud83d\ude00\u00"}`,
		`1.2.3.4|2024-03-01T12:00:00.123456Z|/x?y|200|1|0.1|Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; SE 2.X MetaSr 1.0)`,
		"",
		"\x00\xff\"[",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var r Record
		for _, fm := range fuzzFormats {
			p := fm.NewParser()
			if err := p.Parse(line, &r); err != nil {
				continue
			}
			if r.Has&FieldStatus != 0 && (r.Status < 100 || r.Status > 999) {
				t.Errorf("format %q: status %d accepted from %q", fm.Spec(), r.Status, line)
			}
			if r.Has&FieldRequestTime != 0 && r.RequestTime < 0 {
				t.Errorf("negative request time from %q", line)
			}
			for _, u := range r.UpstreamTimes {
				if u < 0 {
					t.Errorf("negative upstream time from %q", line)
				}
			}
			if r.Has&FieldUserAgent == 0 && r.UA != (UserAgent{}) {
				t.Errorf("UA classified without a user agent")
			}
		}
		_ = ClassifyUserAgent(string(line))
	})
}

// FuzzCompile checks that no format string makes Compile or Parse panic.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{Combined, Main, "json", `log_format a escape=json '{"a":"$status"}';`, `'$a' "$b"`, `${x`, `{"a":[`} {
		f.Add(s, `1.2.3.4 - - [10/Oct/2023:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"`)
	}
	f.Fuzz(func(t *testing.T, spec, line string) {
		fm, err := Compile(spec)
		if err != nil {
			return
		}
		var r Record
		_ = fm.Parse([]byte(line), &r)
	})
}

// FuzzIndexLit checks the literal search Parse uses against bytes.Index.
func FuzzIndexLit(f *testing.F) {
	f.Add([]byte(`GET / HTTP/1.1" 200 1 "-" "curl"`), []byte(`" "`))
	f.Add([]byte(`"" "`), []byte(`" "`))
	f.Add([]byte(`]]] "`), []byte(`] "`))
	f.Fuzz(func(t *testing.T, b, lit []byte) {
		if len(lit) == 0 {
			return // steps never have an empty literal here
		}
		if got, want := indexLit(b, lit), bytes.Index(b, lit); got != want {
			t.Errorf("indexLit(%q, %q) = %d, want %d", b, lit, got, want)
		}
	})
}

// FuzzSpaceIn8 checks the word-at-a-time space search against
// bytes.IndexByte.
func FuzzSpaceIn8(f *testing.F) {
	f.Add(uint64(0x2120212021202120))
	f.Add(uint64(0x2020202020202020))
	f.Add(uint64(0x3232312e332e3031)) // "10.3.122"
	f.Add(uint64(0x1f21ff00a0e01f21))
	f.Fuzz(func(t *testing.T, w uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], w)
		want := bytes.IndexByte(b[:], ' ')
		if want < 0 {
			want = 8
		}
		if got := spaceIn8(w); got != want {
			t.Errorf("spaceIn8(%q) = %d, want %d", b, got, want)
		}
	})
}

// FuzzTimeLocal checks that reading $time_local after another (the
// same-second and same-minute shortcuts) gives what a fresh parse does.
func FuzzTimeLocal(f *testing.F) {
	f.Add([]byte("10/Oct/2023:13:55:36 -0700"), []byte("10/Oct/2023:13:55:59 -0700"))
	f.Add([]byte("31/Dec/2023:23:59:59 +0000"), []byte("31/Dec/2023:23:59:60 +0000"))
	f.Add([]byte("10/Oct/2023:13:55:36 -0700"), []byte("10/Oct/2023:13:55:3x -0700"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		if string(second) == "-" {
			return // "none", not a time
		}
		var r Record
		_ = r.set(varTimeLocal, first)
		r.Has = 0
		err := r.set(varTimeLocal, second)
		want, ok := parseTimeLocal(second)
		if ok != (err == nil) || ok && !r.Time.Equal(want) {
			t.Errorf("after %q, %q gave %v (%v), want %v (ok %v)", first, second, r.Time, err, want, ok)
		}
	})
}

// FuzzTrimSpace checks trimSpace against bytes.TrimSpace.
func FuzzTrimSpace(f *testing.F) {
	for _, s := range []string{" 0.010 ", "\t-\r", "  ", "\u00a00.1\u0085", " \xc2", "0.1\xff "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := trimSpace(b), bytes.TrimSpace(b); !bytes.Equal(got, want) {
			t.Errorf("trimSpace(%q) = %q, want %q", b, got, want)
		}
	})
}
