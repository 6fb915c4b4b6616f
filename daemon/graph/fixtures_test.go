package graph

import (
	"math"
	"time"
)

// Fixed data for golden images: no randomness, no clock.
var fixtureStart = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC).UnixMilli()

func wave(name string, n int, step time.Duration, f func(i int) float64) Series {
	s := Series{Name: name, Points: make([]Point, n)}
	for i := range s.Points {
		s.Points[i] = Point{T: fixtureStart + int64(i)*step.Milliseconds(), V: f(i)}
	}
	return s
}

// fixtures returns one small chart per style, plus the fallbacks.
func fixtures() map[string]*Chart {
	const w, h = 480, 200
	min5 := 5 * time.Minute
	return map[string]*Chart{
		"default": {
			Title: "upstream,time", Style: StyleDefault, Width: w, Height: h, Unit: UnitSeconds,
			Series: []Series{
				wave("upstream,time,p50", 72, min5, func(i int) float64 { return 0.08 + 0.03*math.Sin(float64(i)/7) }),
				wave("upstream,time,p90", 72, min5, func(i int) float64 { return 0.25 + 0.08*math.Sin(float64(i)/5) }),
				wave("upstream,time,p99", 72, min5, func(i int) float64 {
					if i > 40 && i < 46 {
						return math.NaN() // a gap
					}
					return 0.6 + 0.3*math.Sin(float64(i)/4)
				}),
			},
			Markers: []Marker{
				{From: fixtureStart + 90*60e3, Text: "deploy v2"},
				{From: fixtureStart + 4*3600e3, Until: fixtureStart + 4*3600e3 + 40*60e3, Text: "outage"},
			},
		},
		"cpu": {
			Title: "cpu,10.3.1.12", Style: StyleCPU, Width: w, Height: h,
			Series: []Series{
				wave("cpu,10.3.1.12,idle", 96, 15*time.Minute, func(i int) float64 { return 60 - 30*math.Sin(float64(i)/15) }),
				wave("cpu,10.3.1.12,sytem", 96, 15*time.Minute, func(i int) float64 { return 10 + 5*math.Sin(float64(i)/6) }),
				wave("cpu,10.3.1.12,user", 96, 15*time.Minute, func(i int) float64 { return 25 + 20*math.Sin(float64(i)/15) }),
				wave("cpu,10.3.1.12,iowait", 96, 15*time.Minute, func(i int) float64 { return 5 + 4*math.Cos(float64(i)/3) }),
			},
			Markers: []Marker{{From: fixtureStart + 10*3600e3, Text: "sth. wrong happened"}},
		},
		"net": {
			Title: "net,eth0", Style: StyleNet, Width: w, Height: h,
			Series: []Series{
				wave("net,eth0,in", 60, time.Minute, func(i int) float64 { return 2.5e6 + 1.5e6*math.Sin(float64(i)/6) }),
				wave("net,eth0,out", 60, time.Minute, func(i int) float64 { return 1.2e6 + 0.8e6*math.Cos(float64(i)/9) }),
			},
		},
		"url": {
			Title: "url", Style: StyleURL, Width: w, Height: h,
			Bars: []Bar{
				{"url,/", 5230}, {"url,/index.html", 1820}, {"url,/api/v1/items", 3310},
				{"url,/static/app.js", 2950}, {"url,/login", 640}, {"url,/favicon.ico", 2100},
				{"url,/api/v1/search?q=some-very-long-query-string", 1200}, {"url,/about", 90},
				{"url,/robots.txt", 45}, {"url,/blog/2026/11/canopy", 880}, {"url,/404", 12},
			},
		},
		"tree-bar": {
			Title: "br", Style: StyleDefault, Width: w, Height: h, Theme: ThemeDark,
			Bars: []Bar{{"br,ie,6", 3}, {"br,ie,7", 8}, {"br,webkit,13.0", 20}, {"br,webkit,14.0", 40}, {"br,firefox", 27}},
		},
		"nodata": {Title: "nothing,here", Width: w, Height: h},
	}
}
