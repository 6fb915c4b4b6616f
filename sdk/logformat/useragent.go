package logformat

import (
	"strings"
)

// UserAgent is a classified User-Agent header. Family names are short lower
// case words (`chrome`, `ie`, `windows`); versions are the leading numbers
// of the version the agent announces (`120`, `7`, `10.15`). An empty field
// is unknown.
type UserAgent struct {
	Browser      string // chrome, firefox, safari, edge, ie, opera, yandex, samsung, uc, …, "other"; "" for bots and absent agents
	BrowserMajor string // "120"
	OS           string // windows, macos, linux, android, ios, chromeos, …
	OSVersion    string // "10", "xp", "7", "10.15", "17"
	Vendor       string // a shell around the engine: sogou, qq, 360, maxthon, …
	Bot          string // crawler or tool name: googlebot, bingbot, curl, …

	// Class is the six fields above joined by "|" (browser|major|os|
	// version|vendor|bot): one short string a pipe can count by with a
	// single map lookup instead of hashing six (hashing is slow in Go's
	// WASM build). None of the fields can contain "|".
	Class string
}

// Table-driven classification: the first matching rule of each table wins,
// so more specific tokens come first (Edge and Opera announce Chrome too,
// Chrome announces Safari). Tokens are matched case-sensitively as browsers
// send them; bots are also caught by a case-insensitive "bot/spider/crawl".

type botRule struct{ token, name string }

var botRules = []botRule{
	{"Googlebot", "googlebot"},
	{"AdsBot-Google", "googlebot"},
	{"Mediapartners-Google", "googlebot"},
	{"Google-InspectionTool", "googlebot"},
	{"bingbot", "bingbot"},
	{"BingPreview", "bingbot"},
	{"Baiduspider", "baiduspider"},
	{"YandexBot", "yandexbot"},
	{"YandexImages", "yandexbot"},
	{"Sogou web spider", "sogouspider"},
	{"Sogou inst spider", "sogouspider"},
	{"Sogou", "sogouspider"}, // Sogou Pic/Orion/… spiders; the browser says MetaSr, checked before
	{"360Spider", "360spider"},
	{"DuckDuckBot", "duckduckbot"},
	{"Applebot", "applebot"},
	{"Slurp", "yahoo"},
	{"AhrefsBot", "ahrefsbot"},
	{"SemrushBot", "semrushbot"},
	{"MJ12bot", "mj12bot"},
	{"DotBot", "dotbot"},
	{"PetalBot", "petalbot"},
	{"Bytespider", "bytespider"},
	{"GPTBot", "gptbot"},
	{"ClaudeBot", "claudebot"},
	{"CCBot", "ccbot"},
	{"facebookexternalhit", "facebook"},
	{"Twitterbot", "twitterbot"},
	{"LinkedInBot", "linkedinbot"},
	{"Slackbot", "slackbot"},
	{"TelegramBot", "telegrambot"},
	{"Discordbot", "discordbot"},
	{"UptimeRobot", "uptimerobot"},
	{"Pingdom", "pingdom"},
	{"curl/", "curl"},
	{"Wget/", "wget"},
	{"python-requests", "python"},
	{"Python-urllib", "python"},
	{"aiohttp", "python"},
	{"Go-http-client", "go"},
	{"okhttp", "okhttp"},
	{"Java/", "java"},
	{"Apache-HttpClient", "java"},
	{"libwww-perl", "perl"},
	{"PostmanRuntime", "postman"},
	{"HeadlessChrome", "headlesschrome"},
	{"Prometheus/", "prometheus"},
	{"kube-probe", "kube-probe"},
	{"ELB-HealthChecker", "elb"},
}

// vendorRules are browser shells that embed IE's or Chrome's engine and
// announce themselves with an extra token; the base browser still counts.
var vendorRules = []botRule{
	{"MetaSr", "sogou"},
	{"SogouMobileBrowser", "sogou"},
	{"SogouMSE", "sogou"},
	{"QQBrowser", "qq"},
	{"360SE", "360"},
	{"360EE", "360"},
	{"QIHU 360", "360"},
	{"Maxthon", "maxthon"},
	{"TheWorld", "theworld"},
	{"LBBROWSER", "liebao"},
	{"BIDUBrowser", "baidu"},
	{"baiduboxapp", "baidu"},
	{"2345Explorer", "2345"},
	{"MicroMessenger", "wechat"},
	{"AlipayClient", "alipay"},
	{"Quark/", "quark"},
	{"HuaweiBrowser", "huawei"},
	{"MiuiBrowser", "xiaomi"},
}

// browserRule: token starts the version (`Chrome/120.0` → "120"); verToken,
// when set, is where the version is read instead (Safari's `Version/17.1`).
type browserRule struct {
	token, family, verToken string
}

var browserRules = []browserRule{
	{"Edg/", "edge", ""},
	{"EdgA/", "edge", ""},
	{"EdgiOS/", "edge", ""},
	{"Edge/", "edge", ""},
	{"OPR/", "opera", ""},
	{"OPiOS/", "opera", ""},
	{"Opera Mini/", "opera", ""},
	{"Opera/", "opera", "Version/"},
	{"YaBrowser/", "yandex", ""},
	{"SamsungBrowser/", "samsung", ""},
	{"UCBrowser/", "uc", ""},
	{"UCWEB", "uc", ""},
	{"Vivaldi/", "vivaldi", ""},
	{"Brave/", "brave", ""},
	{"SeaMonkey/", "seamonkey", ""},
	{"Firefox/", "firefox", ""},
	{"FxiOS/", "firefox", ""},
	{"CriOS/", "chrome", ""},
	{"Chromium/", "chromium", ""},
	{"Chrome/", "chrome", ""},
	{"MSIE ", "ie", ""},
	{"Trident/", "ie", "rv:"},
	{"Safari/", "safari", "Version/"},
}

// ClassifyUserAgent classifies one User-Agent header. The returned fields
// are constants or substrings of ua; only Class is allocated.
func ClassifyUserAgent(ua string) UserAgent {
	u := classify(ua)
	if u != (UserAgent{}) {
		u.Class = u.Browser + "|" + u.BrowserMajor + "|" + u.OS + "|" + u.OSVersion + "|" + u.Vendor + "|" + u.Bot
	}
	return u
}

func classify(ua string) UserAgent {
	var u UserAgent
	if ua == "" || ua == "-" {
		return u
	}
	u.OS, u.OSVersion = classifyOS(ua)
	for _, v := range vendorRules {
		if strings.Contains(ua, v.token) {
			u.Vendor = v.name
			break
		}
	}
	if u.Vendor == "" {
		for _, b := range botRules {
			if strings.Contains(ua, b.token) {
				u.Bot = b.name
				return u
			}
		}
		if isBotLike(ua) {
			u.Bot = "other"
			return u
		}
	}
	for _, b := range browserRules {
		i := strings.Index(ua, b.token)
		if i < 0 {
			continue
		}
		u.Browser = b.family
		rest := ua[i+len(b.token):]
		if b.verToken != "" {
			if j := strings.Index(ua, b.verToken); j >= 0 {
				rest = ua[j+len(b.verToken):]
			} else if b.family == "ie" {
				rest = ""
			}
		}
		u.BrowserMajor = leadingDigits(rest)
		break
	}
	if u.Browser == "" {
		u.Browser = "other"
	}
	return u
}

// isBotLike catches crawlers not in the table by the words they use.
func isBotLike(ua string) bool {
	for i := 0; i+3 <= len(ua); i++ {
		c := ua[i] | 0x20
		switch c {
		case 'b':
			// "Cubot" is a phone maker, not a crawler.
			if ua[i+1]|0x20 == 'o' && ua[i+2]|0x20 == 't' && !(i >= 2 && ua[i-2]|0x20 == 'c' && ua[i-1]|0x20 == 'u') {
				return true
			}
		case 's':
			if i+6 <= len(ua) && strings.EqualFold(ua[i:i+6], "spider") {
				return true
			}
		case 'c':
			if i+5 <= len(ua) && strings.EqualFold(ua[i:i+5], "crawl") {
				return true
			}
		}
	}
	return false
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// windowsVersions maps `Windows NT x.y` to the marketing name.
var windowsVersions = []struct{ nt, name string }{
	{"10.0", "10"}, // Windows 11 also sends 10.0
	{"6.3", "8.1"},
	{"6.2", "8"},
	{"6.1", "7"},
	{"6.0", "vista"},
	{"5.2", "xp"}, // XP x64 / Server 2003
	{"5.1", "xp"},
	{"5.0", "2000"},
}

var macOS10 = [...]string{"10.0", "10.1", "10.2", "10.3", "10.4", "10.5", "10.6", "10.7", "10.8", "10.9", "10.10", "10.11", "10.12", "10.13", "10.14", "10.15"}

func classifyOS(ua string) (family, version string) {
	if i := strings.Index(ua, "Windows NT "); i >= 0 {
		v := ua[i+len("Windows NT "):]
		for _, w := range windowsVersions {
			if strings.HasPrefix(v, w.nt) {
				return "windows", w.name
			}
		}
		return "windows", ""
	}
	switch {
	case strings.Contains(ua, "Windows Phone"):
		return "windowsphone", ""
	case strings.Contains(ua, "Windows"):
		switch {
		case strings.Contains(ua, "Windows 98"):
			return "windows", "98"
		case strings.Contains(ua, "Windows 95"):
			return "windows", "95"
		}
		return "windows", ""
	}
	for _, dev := range [...]string{"iPhone", "iPad", "iPod"} {
		if strings.Contains(ua, dev) {
			// `CPU iPhone OS 17_1 like Mac OS X`, `CPU OS 16_6 like …`
			if i := strings.Index(ua, " OS "); i >= 0 {
				return "ios", leadingDigits(ua[i+4:])
			}
			return "ios", ""
		}
	}
	if i := strings.Index(ua, "Android"); i >= 0 {
		v := ua[i+len("Android"):]
		if len(v) > 0 && (v[0] == ' ' || v[0] == '/') {
			v = v[1:]
		}
		return "android", leadingDigits(v)
	}
	if i := strings.Index(ua, "Mac OS X"); i >= 0 {
		v := ua[i+len("Mac OS X"):]
		if len(v) > 0 && v[0] == ' ' {
			v = v[1:]
			major := leadingDigits(v)
			if major == "10" && len(v) > 3 && (v[2] == '_' || v[2] == '.') {
				// 10.x releases are the versions users know (10_15 and
				// 10.15 in agents alike); 11 and later by major.
				if n, ok := num([]byte(leadingDigits(v[3:]))); ok && n < len(macOS10) {
					return "macos", macOS10[n]
				}
			}
			return "macos", major
		}
		return "macos", ""
	}
	switch {
	case strings.Contains(ua, "CrOS"):
		return "chromeos", ""
	case strings.Contains(ua, "Ubuntu"):
		return "linux", "ubuntu"
	case strings.Contains(ua, "Fedora"):
		return "linux", "fedora"
	case strings.Contains(ua, "Linux"):
		return "linux", ""
	case strings.Contains(ua, "FreeBSD"):
		return "freebsd", ""
	case strings.Contains(ua, "OpenBSD"):
		return "openbsd", ""
	case strings.Contains(ua, "Macintosh"):
		return "macos", ""
	}
	return "", ""
}
