package logformat

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// variedFormats are the text and JSON formats the differential test and
// the varied benchmark run.
var variedFormats = []string{
	"combined",
	"main",
	"json",
	`$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`,
	`log_format x '$remote_addr|$time_iso8601|$request_uri|$status|$bytes_sent|$request_time|$http_user_agent|$msec';`,
	`$remote_addr [$time_local] "$request_method $uri?$args" $status $body_bytes_sent "$http_user_agent" "$http_x_forwarded_for" rt=$request_time`,
	`log_format j escape=json '{"t":"$time_local","a":"$remote_addr","r":"$request","s":$status,"b":$body_bytes_sent,"u":"$http_user_agent","ut":"$upstream_response_time"}';`,
}

var variedAgents = []string{
	chromeUA,
	`Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; SE 2.X MetaSr 1.0; SE 2.X MetaSr 1.0; .NET CLR 2.0.50727; SE 2.X MetaSr 1.0)`,
	`Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1`,
	`Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Safari/537.36 Edg/119.0.2151.97`,
	`Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36`,
	`Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)`,
	`Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0`,
	`curl/8.4.0`, `-`, ``, `Wget/1.21`, `python-requests/2.31.0`, `My "quoted" agent`, `agent\x22with\x22escapes`,
	`Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko`, `Sogou web spider/4.0`, `Cubot X30`,
	`тест/1.0 (ünïcode; 中文)`, `(((((`, `a" "b`, `x] "y`, strings.Repeat("Mozilla/5.0 ", 40),
}

// variedLine writes one line of format i (an index into variedFormats)
// with values drawn from the awkward corners nginx logs have: `-` fields,
// IPv6, escapes, odd requests, bad numbers and times, and now and then a
// truncated or mutated line.
func variedLine(rng *rand.Rand, i int, sec *int) string {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	addr := pick("203.0.113.9", "198.51.100.23", "::1", "2001:db8::8a2e:370:7334", "2001:0DB8:0000:0000:0000:0000:1428:57AB",
		"::ffff:192.0.2.1", "-", "10.0.0.1", "fe80::1%eth0", "")
	user := pick("-", "-", "-", "alice", "bob smith", "", "-x")
	// Mostly consecutive seconds (the time caches), sometimes a jump, a
	// new zone or a bad time.
	switch rng.IntN(20) {
	case 0:
		*sec += 3600 * rng.IntN(50)
	case 1:
		*sec -= rng.IntN(100)
	default:
		*sec += rng.IntN(3)
	}
	s := ((*sec % 86400) + 86400) % 86400
	day := 1 + (*sec/86400%28+28)%28
	zone := pick("+0000", "+0000", "-0700", "+0530", "+0800")
	tl := fmt.Sprintf("%02d/%s/2024:%02d:%02d:%02d %s", day, months[(*sec/86400/28%12+12)%12], s/3600, s/60%60, s%60, zone)
	iso := fmt.Sprintf("2024-03-%02dT%02d:%02d:%02d%s", day, s/3600, s/60%60, s%60, pick("+00:00", "Z", "-07:00", ".123+01:00"))
	if rng.IntN(30) == 0 {
		tl = pick("31/Feb/2024:10:00:00 +0000", "10/Oct/2024:25:00:00 +0000", "10/Foo/2024:10:00:00 +0000", "-", "10/Oct/2024:10:00:0x +0000",
			"10/Oct/2024:10:00:60 +0000", "1/Oct/2024:10:00:00 +0000", "10/Oct/2024:10:00:00 +00000")
		iso = pick("2024-02-30T10:00:00Z", "-", "2024-03-01 10:00:00Z", "2024-03-01T10:00:00")
	}
	method := pick("GET", "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "")
	path := pick("/", "/a/b.html", "/static/app.js", "/api/v1/order", "/search", "/p%20q", `/q\x22uote`, "/x y", "//", "/"+strings.Repeat("long/", 30))
	query := pick("", "", "?", "?x=1&y=2", "?q=a+b", "?utm_source=x&utm_medium=y", "?a=?b")
	proto := pick("HTTP/1.1", "HTTP/1.1", "HTTP/2.0", "HTTP/1.0", "")
	req := method + " " + path + query
	if proto != "" {
		req += " " + proto
	}
	if rng.IntN(15) == 0 {
		req = pick("-", `\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03`, "GET", "GET /only-path", "", "  ", "GET  / HTTP/1.1", "a b c d")
	}
	status := pick("200", "200", "200", "304", "404", "500", "502", "301", "499")
	if rng.IntN(40) == 0 {
		status = pick("-", "99", "1000", "abc", "", "20x", "099")
	}
	bytes := pick("0", "157", "2326", "1048576", "-", "12")
	if rng.IntN(40) == 0 {
		bytes = pick("1x", "", "1234567890123456789", "123456789012345678", "-1")
	}
	ref := pick("-", "-", "http://example.com/start", "https://www.google.com/search?q=a", "", `http://e.com/\x22q\x22`, `a" "b`, "http://[::1]:8080/")
	ua := variedAgents[rng.IntN(len(variedAgents))]
	rt := pick("0.012", "0.000", "1.020", "12", "-", "0.5")
	up := pick("0.010", "0.010, 0.004", "0.015 : -", "-", "0.1, -, 0.2 : 0.3", "1.000")
	if rng.IntN(40) == 0 {
		rt = pick("", "1e3", "abc", "1.2.3", "-0.1")
		up = pick(",", "0.1,,", "", "x", " , ")
	}
	host := pick("example.com", "EXAMPLE.COM", "-", "shop.example.org")
	var line string
	switch i {
	case 0:
		line = fmt.Sprintf(`%s - %s [%s] "%s" %s %s "%s" "%s"`, addr, user, tl, req, status, bytes, ref, ua)
	case 1:
		line = fmt.Sprintf(`%s - %s [%s] "%s" %s %s "%s" "%s" %s %s`, addr, user, tl, req, status, bytes, ref, ua, rt, up)
	case 2:
		line = fmt.Sprintf(`{"time_local":%q,"remote_addr":%q,"request":%q,"status":%s,"body_bytes_sent":%s,"http_referer":%q,"http_user_agent":%q,"request_time":%s,"upstream_response_time":%q}`,
			tl, addr, req, status, bytes, ref, ua, rt, up)
	case 3:
		line = fmt.Sprintf(`%s %s - %s [%s] "%s" %s %s "%s" "%s"`, host, addr, user, tl, req, status, bytes, ref, ua)
	case 4:
		line = fmt.Sprintf(`%s|%s|%s|%s|%s|%s|%s|%d.%03d`, addr, iso, path+query, status, bytes, rt, ua, 1700000000+*sec, rng.IntN(1000))
	case 5:
		line = fmt.Sprintf(`%s [%s] "%s %s?%s" %s %s "%s" "%s" rt=%s`, addr, tl, method, path, strings.TrimPrefix(query, "?"), status, bytes, ua, pick("-", "1.2.3.4", "1.2.3.4, 10.0.0.2"), rt)
	case 6:
		line = fmt.Sprintf(`{"t":%q,"a":%q,"r":%q,"s":%s,"b":%s,"u":%q,"ut":%q}`, tl, addr, req, status, bytes, ua, up)
	}
	switch rng.IntN(25) {
	case 0:
		line = line[:rng.IntN(len(line)+1)] // truncated
	case 1:
		b := []byte(line)
		b[rng.IntN(len(b))] = pick(`"`, " ", "]", "[", "-", "\x00", "\xff", "\\", "{", ",")[0]
		line = string(b)
	case 2:
		line += pick("\n", "\r\n", " ", "\n\n", "\r")
	case 3:
		line += " trailing"
	}
	return line
}

// variedLog returns n generated lines of format i.
func variedLog(seed uint64, i, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	sec := rng.IntN(86400 * 300)
	lines := make([][]byte, n)
	for j := range lines {
		lines[j] = []byte(variedLine(rng, i, &sec))
	}
	return lines
}

// recordView is a Record's results, comparable with reflect.DeepEqual
// (NaN upstream times as their bits).
type recordView struct {
	Has                         Field
	Time                        string
	Status                      int
	Bytes                       int64
	RequestTime                 uint64
	Upstream                    []uint64
	Method, Path, Query, Proto  string
	Addr, User, Ref, UA, XFF, H string
	Agent                       UserAgent
	Vars                        []string
}

func viewAll(r *Record) recordView {
	v := recordView{
		Has: r.Has, Time: r.Time.String() + "@" + r.Time.Location().String(), Status: r.Status, Bytes: r.Bytes,
		RequestTime: math.Float64bits(r.RequestTime),
		Method:      string(r.Method), Path: string(r.Path), Query: string(r.Query), Proto: string(r.Protocol),
		Addr: string(r.RemoteAddr), User: string(r.RemoteUser), Ref: string(r.Referer), UA: string(r.UserAgent),
		XFF: string(r.XForwardedFor), H: string(r.Host), Agent: r.UA,
	}
	for _, u := range r.UpstreamTimes {
		v.Upstream = append(v.Upstream, math.Float64bits(u))
	}
	for _, x := range r.Vars {
		v.Vars = append(v.Vars, x.Name+"="+string(x.Value))
	}
	return v
}

// TestDifferential runs the parser and the one it replaced (reference_test.go)
// over generated varied logs: every line must give the same error, and an
// accepted line the same record. Each side reuses one Record throughout, as
// callers do, so the time caches and slice reuse are exercised.
func TestDifferential(t *testing.T) {
	n := 8000
	if testing.Short() {
		n = 1000
	}
	for i, spec := range variedFormats {
		f := MustCompile(spec)
		for _, vars := range []bool{true, false} {
			var newR, oldR Record
			agents := map[string]UserAgent{}
			p := f.NewParser()
			p.SetRecordVars(vars)
			accepted := 0
			for _, line := range variedLog(1, i, n) {
				newErr := p.Parse(line, &newR)
				oldErr := f.refParse(line, &oldR, vars)
				if oldErr == nil && oldR.Has&FieldUserAgent != 0 {
					u, ok := agents[string(oldR.UserAgent)]
					if !ok {
						u = ClassifyUserAgent(string(oldR.UserAgent))
						agents[string(oldR.UserAgent)] = u
					}
					oldR.UA = u
				}
				if !errors.Is(newErr, oldErr) || !errors.Is(oldErr, newErr) {
					t.Fatalf("format %q, line %q: error %v, reference %v", spec, line, newErr, oldErr)
				}
				if newErr != nil {
					continue
				}
				accepted++
				if g, w := viewAll(&newR), viewAll(&oldR); !reflect.DeepEqual(g, w) {
					t.Fatalf("format %q, line %q:\n got %+v\nwant %+v", spec, line, g, w)
				}
			}
			t.Logf("format %d: %d of %d lines accepted", i, accepted, n)
			if accepted < n/2 {
				t.Errorf("format %q: only %d of %d generated lines accepted: the generator is too wild to compare much", spec, accepted, n)
			}
		}
	}
}

// TestDifferentialMixed parses lines of every format into one Record, so
// each parse starts from another format's leftovers.
func TestDifferentialMixed(t *testing.T) {
	formats := make([]*Format, len(variedFormats))
	logs := make([][][]byte, len(variedFormats))
	for i, spec := range variedFormats {
		formats[i] = MustCompile(spec)
		logs[i] = variedLog(5, i, 2000)
	}
	var newR, oldR Record
	rng := rand.New(rand.NewPCG(5, 5))
	for n := 0; n < 10000; n++ {
		fi, li := rng.IntN(len(formats)), rng.IntN(2000)
		fm, line := formats[fi], logs[rng.IntN(len(logs))][li]
		if rng.IntN(4) != 0 {
			line = logs[fi][li] // mostly lines of the format
		}
		newErr := fm.parse(line, &newR, true)
		oldErr := fm.refParse(line, &oldR, true)
		if !errors.Is(newErr, oldErr) || !errors.Is(oldErr, newErr) {
			t.Fatalf("format %q, line %q: error %v, reference %v", fm.Spec(), line, newErr, oldErr)
		}
		if newErr == nil {
			if g, w := viewAll(&newR), viewAll(&oldR); !reflect.DeepEqual(g, w) {
				t.Fatalf("format %q, line %q:\n got %+v\nwant %+v", fm.Spec(), line, g, w)
			}
		}
	}
}

// FuzzDifferential is TestDifferential on arbitrary lines: the parser and
// the reference must agree on every format, after a seed line has filled
// the time caches.
func FuzzDifferential(f *testing.F) {
	for i := range variedFormats {
		for _, l := range variedLog(3, i, 8) {
			f.Add(l)
		}
	}
	formats := make([]*Format, len(variedFormats))
	for i, spec := range variedFormats {
		formats[i] = MustCompile(spec)
	}
	warm := variedLog(4, 0, 1)[0]
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, fm := range formats {
			var newR, oldR Record
			_ = fm.parse(warm, &newR, true)
			_ = fm.refParse(warm, &oldR, true)
			newErr := fm.parse(line, &newR, true)
			oldErr := fm.refParse(line, &oldR, true)
			if !errors.Is(newErr, oldErr) || !errors.Is(oldErr, newErr) {
				t.Fatalf("format %q, line %q: error %v, reference %v", fm.Spec(), line, newErr, oldErr)
			}
			if newErr == nil {
				if g, w := viewAll(&newR), viewAll(&oldR); !reflect.DeepEqual(g, w) {
					t.Fatalf("format %q, line %q:\n got %+v\nwant %+v", fm.Spec(), line, g, w)
				}
			}
		}
	})
}
