package logformat

import (
	"testing"

	"github.com/canopy-dev/canopy/sdk/internal/uacache"
)

func TestClassifyUserAgent(t *testing.T) {
	tests := []struct {
		ua   string
		want UserAgent
	}{
		{chromeUA, UserAgent{Browser: "chrome", BrowserMajor: "120", OS: "windows", OSVersion: "10"}},
		{`Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; SE 2.X MetaSr 1.0; SE 2.X MetaSr 1.0; .NET CLR 2.0.50727; SE 2.X MetaSr 1.0)`,
			UserAgent{Browser: "ie", BrowserMajor: "7", OS: "windows", OSVersion: "xp", Vendor: "sogou"}},
		{`Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/58.0.3029.110 Safari/537.36 SE 2.X MetaSr 1.0`,
			UserAgent{Browser: "chrome", BrowserMajor: "58", OS: "windows", OSVersion: "7", Vendor: "sogou"}},
		{`Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko`,
			UserAgent{Browser: "ie", BrowserMajor: "11", OS: "windows", OSVersion: "7"}},
		{`Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)`,
			UserAgent{Browser: "ie", BrowserMajor: "6", OS: "windows", OSVersion: "xp"}},
		{`Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91`,
			UserAgent{Browser: "edge", BrowserMajor: "120", OS: "windows", OSVersion: "10"}},
		{`Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15`,
			UserAgent{Browser: "safari", BrowserMajor: "17", OS: "macos", OSVersion: "10.15"}},
		{`Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0`,
			UserAgent{Browser: "firefox", BrowserMajor: "121", OS: "macos", OSVersion: "10.15"}},
		{`Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0`,
			UserAgent{Browser: "firefox", BrowserMajor: "115", OS: "linux", OSVersion: "ubuntu"}},
		{`Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0`,
			UserAgent{Browser: "opera", BrowserMajor: "105", OS: "linux"}},
		{`Opera/9.80 (Windows NT 6.1; U; en) Presto/2.10.289 Version/12.16`,
			UserAgent{Browser: "opera", BrowserMajor: "12", OS: "windows", OSVersion: "7"}},
		{`Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1`,
			UserAgent{Browser: "safari", BrowserMajor: "17", OS: "ios", OSVersion: "17"}},
		{`Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1`,
			UserAgent{Browser: "chrome", BrowserMajor: "119", OS: "ios", OSVersion: "16"}},
		{`Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36`,
			UserAgent{Browser: "samsung", BrowserMajor: "23", OS: "android", OSVersion: "13"}},
		{`Mozilla/5.0 (Linux; U; Android 10; zh-CN; V1916A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 Mobile Safari/537.36 MicroMessenger/8.0.2`,
			UserAgent{Browser: "chrome", BrowserMajor: "78", OS: "android", OSVersion: "10", Vendor: "wechat"}},
		{`Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.25 Safari/537.36 Core/1.70.3861.400 QQBrowser/10.7.4313.400`,
			UserAgent{Browser: "chrome", BrowserMajor: "70", OS: "windows", OSVersion: "10", Vendor: "qq"}},
		{`Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36`,
			UserAgent{Browser: "chrome", BrowserMajor: "120", OS: "chromeos"}},
		{`Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)`, UserAgent{Bot: "googlebot"}},
		{`Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)`,
			UserAgent{Bot: "googlebot", OS: "android", OSVersion: "6"}},
		{`Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)`, UserAgent{Bot: "bingbot"}},
		{`Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)`, UserAgent{Bot: "baiduspider"}},
		{`Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)`, UserAgent{Bot: "sogouspider"}},
		{`Mozilla/5.0 (Linux; Android 10; V1981A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.136 Mobile Safari/537.36 SogouMSE,SogouMobileBrowser/5.22.8`,
			UserAgent{Browser: "chrome", BrowserMajor: "74", OS: "android", OSVersion: "10", Vendor: "sogou"}},
		{`Mozilla/5.0 (compatible; SomeNewCrawler/1.0)`, UserAgent{Bot: "other"}},
		{`curl/8.4.0`, UserAgent{Bot: "curl"}},
		{`Mozilla/5.0 (Linux; Android 11; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.45 Mobile Safari/537.36`,
			UserAgent{Browser: "chrome", BrowserMajor: "96", OS: "android", OSVersion: "11"}},
		{`python-requests/2.31.0`, UserAgent{Bot: "python"}},
		{`Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36`,
			UserAgent{Bot: "headlesschrome", OS: "linux"}},
		{`SomethingElse/1.0`, UserAgent{Browser: "other"}},
		{`-`, UserAgent{}},
		{``, UserAgent{}},
	}
	for _, tc := range tests {
		got := ClassifyUserAgent(tc.ua)
		class := got.Class
		got.Class = ""
		if got != tc.want {
			t.Errorf("ClassifyUserAgent(%q)\n = %+v\nwant %+v", tc.ua, got, tc.want)
		}
		w := tc.want
		if wantClass := w.Browser + "|" + w.BrowserMajor + "|" + w.OS + "|" + w.OSVersion + "|" + w.Vendor + "|" + w.Bot; class != wantClass && w != (UserAgent{}) {
			t.Errorf("ClassifyUserAgent(%q).Class = %q, want %q", tc.ua, class, wantClass)
		}
	}
}

func TestParserUACache(t *testing.T) {
	p := MustCompile("combined").NewParser()
	p.cache = uacache.New[UserAgent](2)
	for i, ua := range []string{"curl/1", "curl/2", "curl/3", "curl/1"} {
		u := p.UserAgent([]byte(ua))
		if u.Bot != "curl" {
			t.Fatalf("agent %d: %+v", i, u)
		}
		if p.cache.Len() > 2 {
			t.Fatalf("cache grew to %d entries, cap 2", p.cache.Len())
		}
	}
}
