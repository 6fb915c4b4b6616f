// Package report turns a tree filled by the built-in pipes (a replayed log)
// into GoAccess-style panels — overview, visitors, requests, static files,
// not found, hosts, OS, browsers, time distribution, virtual hosts,
// referrers, status codes, geo, latency, slowest requests — and writes
// them as JSON (docs/report.md), aligned text or one self-contained HTML
// file. It reads the tree only through Tree.Get and knows the pipes only
// by the keys their README files document.
package report

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/tree"
)

// Version is the version of the JSON shape (docs/report.md).
const Version = 1

// Input is what the replay knew besides the tree.
type Input struct {
	Files       []File
	Lines       uint64 // lines handed to the pipes
	Bad         uint64 // of those, lines no log format parsed
	Skipped     uint64 // lines never handed over: too long or invalid UTF-8
	First, Last time.Time
}

// File is one log file of the report.
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size_bytes"`
}

// Report is the whole document; its JSON form is documented in
// docs/report.md.
type Report struct {
	Version  int      `json:"version"`
	Overview Overview `json:"overview"`
	Panels   []Panel  `json:"panels"`
}

// Overview is GoAccess's "general statistics".
type Overview struct {
	Files          []File  `json:"files"`
	LogSize        int64   `json:"log_size_bytes"`
	TotalRequests  uint64  `json:"total_requests"`
	ValidRequests  uint64  `json:"valid_requests"`
	FailedRequests uint64  `json:"failed_requests"`
	UniqueVisitors Num     `json:"unique_visitors"`
	Bandwidth      Num     `json:"bandwidth_bytes"`
	Pages          Num     `json:"page_hits"`
	Static         Num     `json:"static_hits"`
	NotFound       Num     `json:"not_found_hits"`
	ReqTimeAvg     Num     `json:"request_time_avg_seconds"`
	UpstreamAvg    Num     `json:"upstream_time_avg_seconds"`
	First          string  `json:"first,omitempty"`
	Last           string  `json:"last,omitempty"`
	Span           float64 `json:"span_seconds"`
}

// Panel is one table of the report: named columns and rows whose Values
// follow the columns; rows may hold sub-rows (a browser's versions, a
// status class's codes, a country's cities).
type Panel struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Note    string   `json:"note,omitempty"`
	Chart   string   `json:"chart,omitempty"` // "bars": the first column over the rows in their order
	Columns []Column `json:"columns"`
	Total   Num      `json:"total"` // what the percent column is a share of
	Rows    []Row    `json:"rows"`
}

// Column names a value of the rows and its unit: count, percent, bytes,
// seconds or code.
type Column struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
}

// Row is one line of a panel.
type Row struct {
	Name   string `json:"name"`
	Values []Num  `json:"values"`
	Rows   []Row  `json:"rows,omitempty"`
}

// Num is a value of the report; NaN (not known) is null in JSON.
type Num float64

// MarshalJSON writes integers without a fraction and NaN as null.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'f', -1, 64), nil
}

// Other is the name of the row that sums what a bounded pipe kept no key
// for.
const Other = "_other"

var (
	colHits    = Column{"hits", "count"}
	colPercent = Column{"percent", "percent"}
	colBytes   = Column{"bytes", "bytes"}
)

// values is the tree as a map from split paths, plus helpers to pick the
// children of a prefix.
type values struct {
	nums    map[string]float64
	markers map[string]string
	kids    map[string][]string // escaped parent key → child names
}

func load(t *tree.Tree) *values {
	all, _ := key.Parse("**")
	v := &values{nums: map[string]float64{}, markers: map[string]string{}, kids: map[string][]string{}}
	for _, e := range t.Get(all) {
		if e.IsMarker {
			v.markers[e.Key] = e.Marker
		} else {
			v.nums[e.Key] = e.Value
		}
		names, err := key.Split(e.Key)
		if err != nil {
			continue
		}
		// Register the node under every ancestor so a parent without a
		// value of its own (br,chrome) still lists its children.
		for i := 1; i < len(names); i++ {
			parent := key.Join(names[:i])
			child := names[i]
			if k := v.kids[parent]; len(k) == 0 || k[len(k)-1] != child {
				v.kids[parent] = append(k, child)
			}
		}
	}
	return v
}

// num is the value at the path of names, NaN when absent.
func (v *values) num(names ...string) float64 {
	if f, ok := v.nums[key.Join(names)]; ok {
		return f
	}
	return math.NaN()
}

// zero is num with absent as 0.
func (v *values) zero(names ...string) float64 {
	if f, ok := v.nums[key.Join(names)]; ok {
		return f
	}
	return 0
}

// children lists the names under the path (in the tree's name order).
func (v *values) children(names ...string) []string {
	return v.kids[key.Join(names)]
}

// Build reads the panels from t, which the built-in pipes filled from
// the lines in.
func Build(t *tree.Tree, in Input) *Report {
	v := load(t)
	r := &Report{Version: Version, Overview: overview(v, in)}
	total := r.Overview.ValidRequests
	add := func(p Panel) { r.Panels = append(r.Panels, p) }
	add(visitorsPanel(v))
	add(topPanel(v, "requests", "Requested files (pages)", v.zero("req", "page"), []string{"req", "page"}, nil,
		"no request lines (the requests pipe writes req,page)"))
	add(topPanel(v, "static", "Static requests", v.zero("req", "static"), []string{"req", "static"}, nil,
		"no static files among the requests"))
	add(topPanel(v, "not_found", "Not found URLs (404)", v.zero("req", "notfound"), []string{"req", "notfound"}, nil,
		"no 404 answers"))
	add(topPanel(v, "methods", "HTTP methods", math.NaN(), []string{"req", "method"}, nil, "no request lines"))
	add(topPanel(v, "protocols", "HTTP protocols", math.NaN(), []string{"req", "protocol"}, nil, "no request lines"))
	add(topPanel(v, "hosts", "Visitor hosts (client IPs)", math.NaN(), []string{"hosts", "hits"}, []string{"hosts", "bytes"},
		"no client addresses"))
	add(treePanel(v, "os", "Operating systems", float64(total), "os"))
	add(treePanel(v, "browsers", "Browsers", float64(total), "br"))
	add(hourPanel(v))
	add(weekdayPanel(v))
	add(topPanel(v, "vhosts", "Virtual hosts", math.NaN(), []string{"vhosts", "hits"}, []string{"vhosts", "bytes"},
		"the log format has no $host, $server_name or $http_host"))
	add(topPanel(v, "referring_sites", "Referring sites", math.NaN(), []string{"ref", "site"}, nil,
		"no referrers from other sites"))
	add(topPanel(v, "referrers", "Referrer URLs", math.NaN(), []string{"ref", "url"}, nil,
		"no referrers from other sites"))
	add(statusPanel(v, float64(total)))
	if len(v.children("geo")) > 0 {
		add(geoPanel(v))
		if len(v.children("geo", "asn")) > 0 {
			add(topPanel(v, "asn", "Autonomous systems", math.NaN(), []string{"geo", "asn"}, nil, ""))
		}
	}
	add(latencyPanel(v))
	add(slowestPanel(v))
	return r
}

func overview(v *values, in Input) Overview {
	o := Overview{
		Files:          in.Files,
		TotalRequests:  in.Lines + in.Skipped,
		ValidRequests:  in.Lines - min(in.Bad, in.Lines),
		FailedRequests: min(in.Bad, in.Lines) + in.Skipped,
		Bandwidth:      Num(v.zero("bytes", "total")),
		Pages:          Num(v.zero("req", "page")),
		Static:         Num(v.zero("req", "static")),
		NotFound:       Num(v.zero("req", "notfound")),
		ReqTimeAvg:     Num(seconds(v.num("reqtime", "avg"))),
		UpstreamAvg:    Num(seconds(v.num("upstream", "avg"))),
	}
	if o.Files == nil {
		o.Files = []File{}
	}
	for _, f := range in.Files {
		o.LogSize += f.Size
	}
	// GoAccess's total of unique visitors is the sum of its days.
	for _, d := range v.children("visitors", "day") {
		o.UniqueVisitors += Num(v.zero("visitors", "day", d))
	}
	if !in.First.IsZero() {
		o.First = in.First.Format(time.RFC3339)
		o.Last = in.Last.Format(time.RFC3339)
		o.Span = in.Last.Sub(in.First).Seconds()
	}
	return o
}

func visitorsPanel(v *values) Panel {
	p := Panel{ID: "visitors", Title: "Unique visitors per day", Chart: "bars",
		Columns: []Column{{"visitors", "count"}, colHits, colBytes}, Rows: []Row{}}
	days := v.children("visitors", "hits")
	for _, d := range v.children("visitors", "day") {
		if !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	var sum float64
	for _, d := range days {
		n := v.zero("visitors", "day", d)
		sum += n
		p.Rows = append(p.Rows, Row{Name: d, Values: nums(n, v.zero("visitors", "hits", d), v.zero("visitors", "bytes", d))})
	}
	p.Total = Num(sum)
	if len(p.Rows) == 0 {
		p.Note = "no lines with a time"
	}
	return p
}

// topPanel lists the children of prefix by hits with their share of
// total (NaN: the sum of the rows) and, when bytesAt is set, the bytes
// under that prefix for the same names.
func topPanel(v *values, id, title string, total float64, prefix, bytesAt []string, empty string) Panel {
	p := Panel{ID: id, Title: title, Columns: []Column{colHits, colPercent}, Rows: []Row{}}
	if bytesAt != nil {
		p.Columns = append(p.Columns, colBytes)
	}
	names := v.children(prefix...)
	hits := make([]float64, len(names))
	sum := 0.0
	for i, n := range names {
		hits[i] = v.zero(append(slices.Clone(prefix), n)...)
		sum += hits[i]
	}
	if math.IsNaN(total) {
		total = sum
	}
	for i, n := range names {
		if _, ok := v.nums[key.Join(append(slices.Clone(prefix), n))]; !ok {
			continue // a deeper key only
		}
		r := Row{Name: n, Values: nums(hits[i], percent(hits[i], total))}
		if bytesAt != nil {
			r.Values = append(r.Values, Num(v.zero(append(slices.Clone(bytesAt), n)...)))
		}
		p.Rows = append(p.Rows, r)
	}
	sortRows(p.Rows)
	p.Total = Num(total)
	if len(p.Rows) == 0 {
		p.Note = empty
	}
	return p
}

// treePanel lists root's families (os,windows) with their versions as
// sub-rows (os,windows,10); a family's hits are its own value plus its
// versions'. Vendor shells (br,…,venders) are inside their version's
// hits already and are left out.
func treePanel(v *values, id, title string, total float64, root string) Panel {
	p := Panel{ID: id, Title: title, Columns: []Column{colHits, colPercent}, Rows: []Row{}}
	for _, fam := range v.children(root) {
		own := v.zero(root, fam)
		r := Row{Name: fam}
		sum := own
		for _, ver := range v.children(root, fam) {
			n := v.zero(root, fam, ver)
			sum += n
			r.Rows = append(r.Rows, Row{Name: ver, Values: nums(n, percent(n, total))})
		}
		sortRows(r.Rows)
		r.Values = nums(sum, percent(sum, total))
		p.Rows = append(p.Rows, r)
	}
	sortRows(p.Rows)
	p.Total = Num(total)
	if len(p.Rows) == 0 {
		p.Note = "no user agents"
	}
	return p
}

func hourPanel(v *values) Panel {
	p := Panel{ID: "hours", Title: "Time distribution (hour of day)", Chart: "bars", Columns: []Column{colHits, colPercent}, Rows: []Row{}}
	var sum float64
	for h := range 24 {
		sum += v.zero("time", "hour", twoDigits(h))
	}
	if sum == 0 {
		p.Note = "no lines with a time"
		return p
	}
	for h := range 24 {
		n := v.zero("time", "hour", twoDigits(h))
		p.Rows = append(p.Rows, Row{Name: twoDigits(h), Values: nums(n, percent(n, sum))})
	}
	p.Total = Num(sum)
	return p
}

func weekdayPanel(v *values) Panel {
	p := Panel{ID: "weekdays", Title: "Time distribution (weekday)", Chart: "bars", Columns: []Column{colHits, colPercent}, Rows: []Row{}}
	days := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	var sum float64
	for _, d := range days {
		sum += v.zero("time", "weekday", d)
	}
	if sum == 0 {
		p.Note = "no lines with a time"
		return p
	}
	for _, d := range days {
		n := v.zero("time", "weekday", d)
		p.Rows = append(p.Rows, Row{Name: d, Values: nums(n, percent(n, sum))})
	}
	p.Total = Num(sum)
	return p
}

// statusPanel groups the codes by class, as GoAccess does.
func statusPanel(v *values, total float64) Panel {
	p := Panel{ID: "status", Title: "HTTP status codes", Columns: []Column{colHits, colPercent}, Rows: []Row{}}
	classes := map[string]*Row{}
	var order []string
	for _, code := range v.children("status") {
		n := v.zero("status", code)
		cls := "other"
		if len(code) == 3 && code[0] >= '1' && code[0] <= '5' {
			cls = code[:1] + "xx"
		}
		r, ok := classes[cls]
		if !ok {
			r = &Row{Name: cls, Values: nums(0, 0)}
			classes[cls] = r
			order = append(order, cls)
		}
		r.Values[0] += Num(n)
		r.Rows = append(r.Rows, Row{Name: code, Values: nums(n, percent(n, total))})
	}
	slices.Sort(order)
	for _, cls := range order {
		r := classes[cls]
		r.Values[1] = Num(percent(float64(r.Values[0]), total))
		sortRows(r.Rows)
		p.Rows = append(p.Rows, *r)
	}
	p.Total = Num(total)
	if len(p.Rows) == 0 {
		p.Note = "no status codes"
	}
	return p
}

// geoPanel lists countries with their cities as sub-rows.
func geoPanel(v *values) Panel {
	p := Panel{ID: "geo", Title: "Geo location (countries, cities)", Columns: []Column{colHits, colPercent}, Rows: []Row{}}
	var sum float64
	for _, c := range v.children("geo", "country") {
		sum += v.zero("geo", "country", c)
	}
	for _, c := range v.children("geo", "country") {
		n := v.zero("geo", "country", c)
		r := Row{Name: c, Values: nums(n, percent(n, sum))}
		for _, city := range v.children("geo", "city", c) {
			m := v.zero("geo", "city", c, city)
			r.Rows = append(r.Rows, Row{Name: city, Values: nums(m, percent(m, sum))})
		}
		sortRows(r.Rows)
		p.Rows = append(p.Rows, r)
	}
	sortRows(p.Rows)
	p.Total = Num(sum)
	if len(p.Rows) == 0 {
		p.Note = "the geo database has no countries"
	}
	return p
}

// latencyPanel is the latency pipe's whole-log percentiles per URL.
func latencyPanel(v *values) Panel {
	p := Panel{ID: "latency", Title: "Latency per URL (request and upstream time)", Columns: []Column{colHits,
		{"req_p50", "seconds"}, {"req_p95", "seconds"}, {"req_p99", "seconds"}, {"req_max", "seconds"},
		{"up_p50", "seconds"}, {"up_p95", "seconds"}, {"up_p99", "seconds"}, {"up_max", "seconds"}}, Rows: []Row{}}
	var sum float64
	for _, path := range v.children("lat", "hits") {
		n := v.zero("lat", "hits", path)
		sum += n
		r := Row{Name: path, Values: nums(n)}
		for _, kind := range []string{"req_all", "up_all"} {
			for _, q := range []string{"p50", "p95", "p99", "max"} {
				r.Values = append(r.Values, Num(seconds(v.num("latp", kind, path, q))))
			}
		}
		p.Rows = append(p.Rows, r)
	}
	sortRows(p.Rows)
	p.Total = Num(sum)
	if len(p.Rows) == 0 {
		p.Note = "the log format has no $request_time or $upstream_response_time"
	}
	return p
}

// slowestPanel parses the latency pipe's markers:
// "2.600s GET /a 200 up=2.598".
func slowestPanel(v *values) Panel {
	p := Panel{ID: "slowest", Title: "Slowest requests", Columns: []Column{{"seconds", "seconds"}, {"status", "code"},
		{"upstream_seconds", "seconds"}}, Total: Num(math.NaN()), Rows: []Row{}}
	for _, rank := range v.children("latslow") {
		m, ok := v.markers[key.Join([]string{"latslow", rank})]
		if !ok {
			continue
		}
		if r, ok := parseSlow(m); ok {
			p.Rows = append(p.Rows, r)
		}
	}
	if len(p.Rows) == 0 {
		p.Note = "the log format has no $request_time or $upstream_response_time"
	}
	return p
}

func parseSlow(m string) (Row, bool) {
	f := strings.Fields(m)
	if len(f) < 4 || !strings.HasSuffix(f[0], "s") {
		return Row{}, false
	}
	sec, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "s"), 64)
	if err != nil {
		return Row{}, false
	}
	up := math.NaN()
	last := f[len(f)-1]
	if s, ok := strings.CutPrefix(last, "up="); ok {
		if u, err := strconv.ParseFloat(s, 64); err == nil {
			up = u
		}
		f = f[:len(f)-1]
	}
	status := math.NaN()
	if s, err := strconv.Atoi(f[len(f)-1]); err == nil {
		status = float64(s)
		f = f[:len(f)-1]
	}
	return Row{Name: strings.Join(f[1:], " "), Values: nums(sec, status, up)}, true
}

// sortRows orders by the first value, largest first, then by name;
// the _other row goes last.
func sortRows(rows []Row) {
	slices.SortStableFunc(rows, func(a, b Row) int {
		if (a.Name == Other) != (b.Name == Other) {
			if a.Name == Other {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(b.Values[0], a.Values[0]); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

func nums(fs ...float64) []Num {
	out := make([]Num, len(fs))
	for i, f := range fs {
		out[i] = Num(f)
	}
	return out
}

// percent is n of total in percent, to two decimals.
func percent(n, total float64) float64 {
	if total <= 0 || math.IsNaN(total) {
		return 0
	}
	return math.Round(n/total*10000) / 100
}

// seconds rounds to the microsecond: the latency pipe's percentiles are
// within 2 %, more digits would only be noise.
func seconds(s float64) float64 {
	return math.Round(s*1e6) / 1e6
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
