package logformat

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// got is the comparable view of a Record used by the table tests.
type got struct {
	Has                                                        string
	Time                                                       string
	Status                                                     int
	Bytes                                                      int64
	ReqTime                                                    float64
	Upstream                                                   string
	Method, Path, Query, Proto, Addr, User, Ref, UA, XFF, Host string
}

func view(r *Record) got {
	g := got{
		Has: r.Has.String(), Status: r.Status, Bytes: r.Bytes, ReqTime: r.RequestTime,
		Method: string(r.Method), Path: string(r.Path), Query: string(r.Query), Proto: string(r.Protocol),
		Addr: string(r.RemoteAddr), User: string(r.RemoteUser), Ref: string(r.Referer), UA: string(r.UserAgent),
		XFF: string(r.XForwardedFor), Host: string(r.Host),
	}
	if len(r.UpstreamTimes) > 0 {
		g.Upstream = fmt.Sprint(r.UpstreamTimes)
	}
	if !r.Time.IsZero() {
		g.Time = r.Time.Format(time.RFC3339Nano)
	}
	return g
}

const chromeUA = `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36`

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		format string
		line   string
		want   got
		err    error
	}{
		{
			name:   "combined",
			format: "combined",
			line:   `203.0.113.9 - - [10/Oct/2023:13:55:36 -0700] "GET /a/b.html?x=1&y=2 HTTP/1.1" 200 2326 "http://example.com/start" "` + chromeUA + `"` + "\n",
			want: got{
				Has:  "time,remote_addr,method,path,query,protocol,status,bytes,referer,user_agent",
				Time: "2023-10-10T20:55:36Z", Status: 200, Bytes: 2326,
				Method: "GET", Path: "/a/b.html", Query: "x=1&y=2", Proto: "HTTP/1.1",
				Addr: "203.0.113.9", Ref: "http://example.com/start", UA: chromeUA,
			},
		},
		{
			name:   "main with two upstreams and user",
			format: "main",
			line:   `10.0.0.1 - alice [01/Jan/2024:00:00:00 +0000] "POST /api/v1/items HTTP/2.0" 502 157 "-" "curl/8.4.0" 0.015 0.010, 0.004` + "\r\n",
			want: got{
				Has:  "time,remote_addr,remote_user,method,path,protocol,status,bytes,request_time,upstream_time,user_agent",
				Time: "2024-01-01T00:00:00Z", Status: 502, Bytes: 157, ReqTime: 0.015, Upstream: "[0.01 0.004]",
				Method: "POST", Path: "/api/v1/items", Proto: "HTTP/2.0", Addr: "10.0.0.1", User: "alice", UA: "curl/8.4.0",
			},
		},
		{
			name:   "main, no upstream, redirect list",
			format: "main",
			line:   `10.0.0.1 - - [29/Feb/2024:23:59:59 +0530] "GET / HTTP/1.1" 304 0 "-" "-" 0.000 -`,
			want: got{
				Has:  "time,remote_addr,method,path,protocol,status,bytes,request_time",
				Time: "2024-02-29T18:29:59Z", Status: 304, Method: "GET", Path: "/", Proto: "HTTP/1.1", Addr: "10.0.0.1",
			},
		},
		{
			name:   "upstream list with redirect and dash",
			format: "main",
			line:   `::1 - - [01/Jan/2024:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "-" 1.5 0.100, - : 0.200`,
			want: got{
				Has:  "time,remote_addr,method,path,protocol,status,bytes,request_time,upstream_time",
				Time: "2024-01-01T00:00:00Z", Status: 200, Bytes: 1, ReqTime: 1.5, Upstream: "[0.1 NaN 0.2]",
				Method: "GET", Path: "/x", Proto: "HTTP/1.1", Addr: "::1",
			},
		},
		{
			name:   "garbage request line is still a good line",
			format: "combined",
			line:   `198.51.100.7 - - [10/Oct/2023:13:55:36 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-"`,
			want: got{
				Has:  "time,remote_addr,path,status,bytes",
				Time: "2023-10-10T13:55:36Z", Status: 400, Bytes: 157, Addr: "198.51.100.7",
				Path: `\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03`,
			},
		},
		{
			name:   "request dash (408)",
			format: "combined",
			line:   `198.51.100.7 - - [10/Oct/2023:13:55:36 +0000] "-" 408 0 "-" "-"`,
			want: got{
				Has:  "time,remote_addr,status,bytes",
				Time: "2023-10-10T13:55:36Z", Status: 408, Addr: "198.51.100.7",
			},
		},
		{
			name:   "directive pasted from nginx.conf, multi-part, iso time, xff",
			format: "log_format  main  '$remote_addr - $remote_user [$time_iso8601] \"$request\" '\n                      '$status $bytes_sent \"$http_referer\" '\n      '\"$http_user_agent\" \"$http_x_forwarded_for\" $host rt=$request_time';",
			line:   `10.1.1.1 - - [2024-03-01T12:00:00+01:00] "GET /q?z HTTP/1.1" 200 512 "-" "Wget/1.21" "1.2.3.4, 10.0.0.2" example.org rt=0.250`,
			want: got{
				Has:  "time,remote_addr,method,path,query,protocol,status,bytes,request_time,user_agent,x_forwarded_for,host",
				Time: "2024-03-01T11:00:00Z", Status: 200, Bytes: 512, ReqTime: 0.25, Method: "GET", Path: "/q", Query: "z",
				Proto: "HTTP/1.1", Addr: "10.1.1.1", UA: "Wget/1.21", XFF: "1.2.3.4, 10.0.0.2", Host: "example.org",
			},
		},
		{
			name:   "msec, request_uri, request_method, braces",
			format: `${msec} $request_method ${request_uri} $status $body_bytes_sent $bytes_sent`,
			line:   `1700000000.123 PUT /up?x=%20 201 10 99`,
			want: got{
				Has:  "time,method,path,query,status,bytes",
				Time: "2023-11-14T22:13:20.123Z", Status: 201, Bytes: 10, Method: "PUT", Path: "/up", Query: "x=%20",
			},
		},
		{
			name:   "unknown variables are skipped",
			format: `$remote_addr $ssl_protocol/$ssl_cipher "$request" $status`,
			line:   `1.2.3.4 TLSv1.3/TLS_AES_128_GCM_SHA256 "GET / HTTP/1.1" 200`,
			want: got{
				Has: "remote_addr,method,path,protocol,status", Status: 200, Method: "GET", Path: "/", Proto: "HTTP/1.1", Addr: "1.2.3.4",
			},
		},
		{
			name:   "json template escape=json",
			format: `log_format js escape=json '{"ts":"$time_iso8601","addr":"$remote_addr","req":"$request_method $uri","args":"$args","status":$status,' '"bytes":$body_bytes_sent,"rt":$request_time,"urt":"$upstream_response_time","ua":"$http_user_agent"}';`,
			line:   `{"ts":"2024-03-01T12:00:00+00:00","urt":"0.002, 0.003","addr":"10.0.0.9","req":"GET /p/\"q\"","args":"","status":404,"bytes":0,"rt":0.005,"ua":"Mozilla \"x\" \u00e9\ud83d\ude00","extra":{"a":[1,"}"]}}`,
			want: got{
				Has:  "time,remote_addr,method,path,status,bytes,request_time,upstream_time,user_agent",
				Time: "2024-03-01T12:00:00Z", Status: 404, ReqTime: 0.005, Upstream: "[0.002 0.003]",
				Method: "GET", Path: `/p/"q"`, Addr: "10.0.0.9", UA: "Mozilla \"x\" é😀",
			},
		},
		{
			name:   "json preset with nginx names and aliases",
			format: "json",
			line:   ` {"time": "10/Oct/2023:13:55:36 +0000", "remote_addr": "1.1.1.1", "request": "GET /j?k=v HTTP/1.1", "status": "200", "body_bytes_sent": 12, "user_agent": "curl/8", "request_time": 1e-3, "x": null} `,
			want: got{
				Has:  "time,remote_addr,method,path,query,protocol,status,bytes,request_time,user_agent",
				Time: "2023-10-10T13:55:36Z", Status: 200, Bytes: 12, ReqTime: 0.001, Method: "GET", Path: "/j", Query: "k=v",
				Proto: "HTTP/1.1", Addr: "1.1.1.1", UA: "curl/8",
			},
		},
		{name: "empty", format: "combined", line: "\n", err: ErrEmptyLine},
		{name: "truncated", format: "combined", line: `1.2.3.4 - - [10/Oct/2023:13:55`, err: ErrMismatch},
		{name: "bad status", format: "combined", line: `1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" abc 1 "-" "-"`, err: ErrBadStatus},
		{name: "bad time", format: "combined", line: `1.2.3.4 - - [31/Feb/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`, err: ErrBadTime},
		{name: "bad bytes", format: "combined", line: `1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 1x "-" "-"`, err: ErrBadNumber},
		{name: "trailing text", format: "combined", line: `1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-" extra`, err: ErrMismatch},
		{name: "bad upstream", format: "main", line: `1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 0.1 0.1,,`, err: ErrBadNumber},
		{name: "json not object", format: "json", line: `[1,2]`, err: ErrBadJSON},
		{name: "json unterminated", format: "json", line: `{"status": "200`, err: ErrBadJSON},
		{name: "json without known keys", format: "json", line: `{"a": 1}`, err: ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Compile(tc.format)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			var r Record
			err = f.Parse([]byte(tc.line), &r)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Parse error = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if g := view(&r); !reflect.DeepEqual(g, tc.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", g, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, spec := range []string{
		`$remote_addr$status`,         // no text between
		`no variables here`,           // nothing to parse
		`log_format main`,             // no format
		`log_format main '$status`,    // unterminated quote
		`'$status' junk`,              // text outside quotes
		`${status`,                    // unterminated brace
		`{"a":"$remote_addr$status"}`, // JSON value that cannot be split
		`{"a":"constant"}`,            // JSON without variables
		`log_format j escape=json`,    // nothing after escape
	} {
		if _, err := Compile(spec); err == nil {
			t.Errorf("Compile(%q) succeeded, want an error", spec)
		}
	}
}

func TestPresetsAndFields(t *testing.T) {
	tests := []struct {
		spec, fields string
	}{
		{"", "time,remote_addr,remote_user,method,path,query,protocol,status,bytes,referer,user_agent"},
		{"combined", "time,remote_addr,remote_user,method,path,query,protocol,status,bytes,referer,user_agent"},
		{"main", "time,remote_addr,remote_user,method,path,query,protocol,status,bytes,request_time,upstream_time,referer,user_agent"},
		{"log_format main '$remote_addr $status';", "remote_addr,status"},
		{"log_format x escape=default main;", "time,remote_addr,remote_user,method,path,query,protocol,status,bytes,request_time,upstream_time,referer,user_agent"},
	}
	for _, tc := range tests {
		f, err := Compile(tc.spec)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.spec, err)
		}
		if got := f.Fields().String(); got != tc.fields {
			t.Errorf("Compile(%q).Fields() = %s, want %s", tc.spec, got, tc.fields)
		}
	}
}

func TestSecondsMatchStrconv(t *testing.T) {
	for _, s := range []string{"0", "0.000", "0.001", "0.004", "0.010", "1.5", "12.345", "999.999", "0.123456789", "60", "3.14159265358979"} {
		want, _ := strconv.ParseFloat(s, 64)
		got, ok := parseSeconds([]byte(s))
		if !ok || got != want {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", ".", "1.2.3", "-1", "abc", "1e", "NaN"} {
		if v, ok := parseSeconds([]byte(s)); ok {
			t.Errorf("parseSeconds(%q) = %v, want failure", s, v)
		}
	}
}

func TestTimeLocalMatchesTimeParse(t *testing.T) {
	base := time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC)
	for i := 0; i < 2000; i++ {
		tm := base.Add(time.Duration(i) * 97 * time.Hour).In(time.FixedZone("", (i%27-13)*3600+(i%2)*1800))
		s := tm.Format("02/Jan/2006:15:04:05 -0700")
		got, ok := parseTimeLocal([]byte(s))
		if !ok || !got.Equal(tm) {
			t.Fatalf("parseTimeLocal(%q) = %v, %v; want %v", s, got, ok, tm)
		}
		iso := tm.Format("2006-01-02T15:04:05-07:00")
		got, ok = parseISO8601([]byte(iso))
		if !ok || !got.Equal(tm) {
			t.Fatalf("parseISO8601(%q) = %v, %v; want %v", iso, got, ok, tm)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	f := MustCompile("main")
	p := f.NewParser()
	line := []byte(`10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /a?b HTTP/1.1" 200 157 "-" "` + chromeUA + `" 0.015 0.010, 0.004`)
	var r Record
	if err := p.Parse(line, &r); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		if err := p.Parse(line, &r); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Parse allocates %v times per line, want 0", n)
	}
	if r.UA.Browser != "chrome" || r.UA.BrowserMajor != "120" || r.UA.OS != "windows" {
		t.Errorf("UA = %+v", r.UA)
	}
}

func ExampleCompile() {
	f, _ := Compile(`log_format main '$remote_addr [$time_local] "$request" $status $request_time';`)
	var r Record
	err := f.Parse([]byte(`10.0.0.1 [10/Oct/2023:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 200 0.012`), &r)
	fmt.Println(err, string(r.Method), string(r.Path), string(r.Query), r.Status, r.RequestTime, r.Time)
	// Output: <nil> GET /a b=1 200 0.012 2023-10-10 13:55:36 +0000 UTC
}

func TestVars(t *testing.T) {
	f := MustCompile(`$remote_addr $ssl_protocol "$request" $status $request_length`)
	var r Record
	if err := f.Parse([]byte(`1.2.3.4 TLSv1.3 "GET / HTTP/1.1" 200 -`), &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range r.Vars {
		got = append(got, v.Name+"="+string(v.Value))
	}
	want := []string{"remote_addr=1.2.3.4", "ssl_protocol=TLSv1.3", "request=GET / HTTP/1.1", "status=200", "request_length=-"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Vars = %q, want %q", got, want)
	}
	if v, ok := r.Var("ssl_protocol"); !ok || string(v) != "TLSv1.3" {
		t.Errorf("Var(ssl_protocol) = %q, %v", v, ok)
	}
	j := MustCompile("json")
	if err := j.Parse([]byte(`{"status":200,"upstream_cache_status":"HIT"}`), &r); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Var("upstream_cache_status"); !ok || string(v) != "HIT" {
		t.Errorf("JSON Var(upstream_cache_status) = %q, %v", v, ok)
	}
}

// TestTimeCache checks the per-Record $time_local cache never serves a
// stale time.
func TestTimeCache(t *testing.T) {
	f := MustCompile(`[$time_local] $status`)
	var r Record
	for _, tc := range []struct{ line, want string }{
		{"[10/Oct/2023:13:55:36 -0700] 200", "2023-10-10T20:55:36Z"},
		{"[10/Oct/2023:13:55:36 -0700] 201", "2023-10-10T20:55:36Z"},
		{"[10/Oct/2023:13:55:37 -0700] 200", "2023-10-10T20:55:37Z"},
		{"[10/Oct/2023:13:55:37 +0000] 200", "2023-10-10T13:55:37Z"},
	} {
		if err := f.Parse([]byte(tc.line), &r); err != nil {
			t.Fatal(err)
		}
		if got := r.Time.Format(time.RFC3339); got != tc.want {
			t.Errorf("%q: time %s, want %s", tc.line, got, tc.want)
		}
	}
	if err := f.Parse([]byte("[10/Oct/2023:13:55:3x +0000] 200"), &r); !errors.Is(err, ErrBadTime) {
		t.Errorf("bad time after a cached one: %v", err)
	}
}

func TestSetRecordVars(t *testing.T) {
	p := MustCompile("main").NewParser()
	p.SetRecordVars(false)
	var r Record
	line := []byte(`10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /a HTTP/1.1" 200 157 "-" "curl/8" 0.015 0.010`)
	if err := p.Parse(line, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Vars) != 0 || r.Status != 200 || r.UA.Bot != "curl" {
		t.Errorf("vars off: Vars %d, status %d, bot %q", len(r.Vars), r.Status, r.UA.Bot)
	}
	p.SetRecordVars(true)
	if err := p.Parse(line, &r); err != nil || len(r.Vars) != 10 {
		t.Errorf("vars on: %v, %d vars, want 10", err, len(r.Vars))
	}
}
