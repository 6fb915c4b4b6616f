package loggen

import (
	"math"
	"strconv"
	"strings"
)

type weighted struct {
	w   int
	ua  string
	bot bool
}

// agents are real user agents with weights roughly like a Chinese-and-global
// site's traffic in the seed's era and now: modern Chrome dominates, IE and
// Sogou shells linger, bots are a tenth.
var agents = []weighted{
	{220, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", false},
	{90, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", false},
	{40, "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36", false},
	{70, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", false},
	{30, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", false},
	{60, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", false},
	{45, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", false},
	{15, "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0", false},
	{10, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0", false},
	{50, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", false},
	{110, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1", false},
	{35, "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", false},
	{15, "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1", false},
	{100, "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", false},
	{25, "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", false},
	{20, "Mozilla/5.0 (Linux; U; Android 10; zh-CN; V1916A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 Mobile Safari/537.36 MicroMessenger/8.0.2", false},
	{12, "Mozilla/5.0 (Linux; U; Android 9; zh-CN; MI 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/57.0.2987.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36", false},
	{10, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0", false},
	{8, "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.25 Safari/537.36 Core/1.70.3861.400 QQBrowser/10.7.4313.400", false},
	{6, "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.198 Safari/537.36 360SE", false},
	// Sogou Explorer: IE 7 (compatibility mode) and Chrome engines.
	{14, "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; SE 2.X MetaSr 1.0; SE 2.X MetaSr 1.0; .NET CLR 2.0.50727; SE 2.X MetaSr 1.0)", false},
	{8, "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; WOW64; Trident/7.0; SE 2.X MetaSr 1.0; SE 2.X MetaSr 1.0; .NET CLR 2.0.50727)", false},
	{10, "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/58.0.3029.110 Safari/537.36 SE 2.X MetaSr 1.0", false},
	// Old IE.
	{14, "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; .NET CLR 2.0.50727)", false},
	{6, "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", false},
	{8, "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)", false},
	{12, "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko", false},
	{6, "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", false},
	// Crawlers and tools.
	{30, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
	{12, "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
	{15, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", true},
	{18, "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", true},
	{8, "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", true},
	{6, "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", true},
	{5, "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", true},
	{4, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)", true},
	{6, "curl/8.4.0", true},
	{4, "python-requests/2.31.0", true},
	{3, "Go-http-client/1.1", true},
	{4, "-", false},
}

type request struct {
	method, path, query, proto, user string
	host                             string // vcombined only
	status                           int
	bytes                            int64
	reqTime                          float64
	upstream                         []float64 // <0 is "-"
	static                           bool
	upBuf                            [3]float64
}

var (
	staticFiles = []string{"/static/css/site.css", "/static/js/app.3f9c2d1.js", "/static/js/vendor.a81b4e0.js",
		"/static/img/logo.png", "/static/img/hero.jpg", "/static/fonts/inter.woff2", "/favicon.ico"}
	pages = []string{"/", "/index.html", "/about", "/pricing", "/docs/", "/docs/install", "/docs/config",
		"/blog/", "/login", "/cart", "/search", "/contact"}
	apis = []string{"/api/v1/items", "/api/v1/cart", "/api/v1/user", "/api/v1/search", "/api/v2/events"}
	// Missing static files (vcombined only): they answer 404.
	missingStatic = []string{"/static/img/banner-2019.gif", "/static/js/legacy.min.js"}
	// Sites of the vcombined logs; the capitals are one site logged as the
	// client sent its Host header.
	vhosts     = []string{"www.example.com", "www.example.com", "www.example.com", "shop.example.com", "shop.example.com", "blog.example.org", "WWW.Example.com"}
	scanPaths  = []string{"/wp-login.php", "/.env", "/phpmyadmin/", "/.git/config", "/admin.php", "/xmlrpc.php"}
	words      = []string{"nginx", "canopy", "graph", "tree", "log", "pipe", "wasm", "trend", "shoes", "phone", "book", "%E4%B8%AD%E6%96%87"}
	sources    = []string{"email", "twitter", "weibo", "google", "newsletter"}
	extReferer = []string{"https://www.google.com/", "https://www.baidu.com/s?wd=canopy", "https://www.bing.com/search?q=canopy",
		"https://www.sogou.com/web?query=canopy", "https://t.co/x1y2z3", "https://news.ycombinator.com/"}
)

const site = "https://www.example.com"

// request draws one request: the path decides the method, the status, the
// size and the times, as on a real site.
func (g *Generator) request(bot bool) *request {
	r := &request{method: "GET", proto: "1.1"}
	if g.rng.IntN(3) == 0 {
		r.proto = "2.0"
	}
	x := g.rng.IntN(1000)
	switch {
	case bot && x < 300:
		r.path = []string{"/robots.txt", "/sitemap.xml", "/"}[g.rng.IntN(3)]
	case x < 380: // static assets
		r.path = staticFiles[g.rng.IntN(len(staticFiles))]
		r.static = true
	case x < 620: // pages
		r.path = pages[g.rng.IntN(len(pages))]
		if r.path == "/search" {
			r.query = "q=" + words[g.rng.IntN(len(words))] + "&page=" + strconv.Itoa(1+g.rng.IntN(5))
		} else if g.rng.IntN(8) == 0 {
			r.query = "utm_source=" + sources[g.rng.IntN(len(sources))]
		}
		if r.path == "/login" && g.rng.IntN(3) == 0 {
			r.method = "POST"
		}
	case x < 760: // products: a long tail of ids
		id := int(math.Pow(g.rng.Float64(), 3) * 20000)
		r.path = "/product/" + strconv.Itoa(id)
		if g.rng.IntN(4) == 0 {
			r.query = "ref=" + sources[g.rng.IntN(len(sources))]
		}
	case x < 800: // blog posts
		r.path = "/blog/2025/" + strconv.Itoa(1+g.rng.IntN(12)) + "/post-" + strconv.Itoa(g.rng.IntN(300))
	case x < 985: // API
		r.path = apis[g.rng.IntN(len(apis))]
		switch g.rng.IntN(10) {
		case 0, 1:
			r.method = "POST"
		case 2:
			r.path += "/" + strconv.Itoa(g.rng.IntN(100000))
			if g.rng.IntN(3) == 0 {
				r.method = []string{"PUT", "DELETE", "PATCH"}[g.rng.IntN(3)]
			}
		case 3:
			r.query = "limit=" + strconv.Itoa(10*(1+g.rng.IntN(5))) + "&offset=" + strconv.Itoa(10*g.rng.IntN(20))
		}
		if g.rng.IntN(40) == 0 {
			r.method = "HEAD"
		}
	default: // scanners
		r.path = scanPaths[g.rng.IntN(len(scanPaths))]
	}
	if g.vhost {
		r.host = vhosts[g.rng.IntN(len(vhosts))]
		if strings.HasPrefix(r.path, "/api/") {
			r.host = "api.example.com"
		}
		if r.static && g.rng.IntN(20) == 0 {
			r.path = missingStatic[g.rng.IntN(len(missingStatic))]
		}
	}

	// Status.
	s := g.rng.IntN(10000)
	switch {
	case contains(scanPaths, r.path) || contains(missingStatic, r.path):
		r.status = 404
	case r.static && s < 2500:
		r.status = 304
	case s < 60:
		r.status = 500
	case s < 110:
		r.status = 502
	case s < 140:
		r.status = 503
	case s < 160:
		r.status = 504
	case s < 360:
		r.status = 404
	case s < 400:
		r.status = 403
	case s < 430:
		r.status = 499
	case s < 530 && !r.static:
		r.status = 302
	case s < 570:
		r.status = 301
	case r.method == "POST" && s < 2000:
		r.status = 201
	default:
		r.status = 200
	}
	if r.status == 201 && r.path == "/login" {
		r.status = 302
	}

	// Size.
	switch {
	case r.status == 304 || r.status == 499 || r.method == "HEAD":
		r.bytes = 0
	case r.status >= 300 && r.status < 400:
		r.bytes = 150 + int64(g.rng.IntN(40))
	case r.status >= 400:
		r.bytes = 150 + int64(g.rng.IntN(400))
	case r.static:
		r.bytes = int64(math.Exp(8 + 3*g.rng.Float64())) // 3 KB .. 180 KB
	case strings.HasPrefix(r.path, "/api/"):
		r.bytes = int64(math.Exp(5 + 4*g.rng.Float64()))
	default:
		r.bytes = int64(math.Exp(8.5 + 1.5*g.rng.Float64()))
	}

	// Times: static files come from disk, the rest from upstream.
	up := math.Exp(g.rng.NormFloat64()*0.9 - 3.5) // median 30 ms
	switch r.status {
	case 504:
		up = 60
	case 502:
		up = -1
	case 499:
		up = 1 + 4*g.rng.Float64()
	}
	switch {
	case r.static || r.status == 404 && contains(scanPaths, r.path) || r.status == 301:
		r.reqTime = float64(g.rng.IntN(3)) / 1000
	default:
		r.upstream = r.upBuf[:1]
		r.upstream[0] = up
		if g.rng.IntN(50) == 0 && up >= 0 { // a retry on a second server
			first := 0.001 + 0.02*g.rng.Float64()
			r.upstream = r.upBuf[:2]
			r.upstream[0], r.upstream[1] = first, up
			up += first
		}
		if up < 0 {
			up = 0.001 * float64(g.rng.IntN(5))
		}
		r.reqTime = up + float64(g.rng.IntN(4))/1000
	}
	if r.status == 200 && g.rng.IntN(200) == 0 {
		r.user = "alice"
	}
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (g *Generator) referer(r *request) string {
	switch x := g.rng.IntN(10); {
	case r.static && r.host != "":
		return "https://" + strings.ToLower(r.host) + "/"
	case r.static:
		return site + "/"
	case x < 4:
		return "-"
	case x < 8 && r.host != "":
		return "https://" + strings.ToLower(r.host) + pages[g.rng.IntN(len(pages))]
	case x < 8:
		return site + pages[g.rng.IntN(len(pages))]
	default:
		return extReferer[g.rng.IntN(len(extReferer))]
	}
}
