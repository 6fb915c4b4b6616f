package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var htmlTemplate string

// The template is parsed once per process; it is constant, so a parse
// error is a bug caught by the golden test.
var reportTemplate = template.Must(template.New("report").Parse(htmlTemplate))

// HTMLOptions shape the HTML report.
type HTMLOptions struct {
	Generated time.Time // shown in the header; zero: not shown
	Top       int       // rows shown before "show all" (default 25)
}

type htmlPage struct {
	Title     string
	Generated string
	Overview  []htmlStat
	Files     []File
	Panels    []htmlPanel
}

type htmlStat struct{ Name, Value string }

type htmlPanel struct {
	ID, Title, Note string
	Chart           template.HTML
	Caption         string
	Columns         []Column
	Rows, More      []htmlRow
	Count           int // top-level rows
}

type htmlRow struct {
	Name  string
	Depth int
	Cells []htmlCell
}

type htmlCell struct {
	Text string
	Bar  template.CSS // the percent column's bar width; empty for other columns
}

// WriteHTML writes r as one self-contained page: inline CSS, SVG charts
// drawn here and a few lines of inline script (show all rows, filter);
// its Content-Security-Policy forbids loading anything, so it reads the
// same offline.
func WriteHTML(w io.Writer, r *Report, opt HTMLOptions) error {
	if opt.Top <= 0 {
		opt.Top = 25
	}
	o := r.Overview
	page := htmlPage{Title: "canopy report", Files: o.Files, Overview: []htmlStat{
		{"Total requests", FormatValue(float64(o.TotalRequests), "count")},
		{"Valid requests", FormatValue(float64(o.ValidRequests), "count")},
		{"Failed requests", FormatValue(float64(o.FailedRequests), "count")},
		{"Unique visitors", FormatValue(float64(o.UniqueVisitors), "count")},
		{"Bandwidth", FormatValue(float64(o.Bandwidth), "bytes")},
		{"Log size", FormatValue(float64(o.LogSize), "bytes")},
		{"Pages", FormatValue(float64(o.Pages), "count")},
		{"Static files", FormatValue(float64(o.Static), "count")},
		{"Not found", FormatValue(float64(o.NotFound), "count")},
		{"Request time avg", FormatValue(float64(o.ReqTimeAvg), "seconds")},
		{"Upstream time avg", FormatValue(float64(o.UpstreamAvg), "seconds")},
		{"Time span", spanShort(o)},
	}}
	if len(o.Files) == 1 {
		page.Title += ": " + o.Files[0].Name
	}
	if !opt.Generated.IsZero() {
		page.Generated = opt.Generated.Format(time.RFC3339)
	}
	for _, p := range r.Panels {
		page.Panels = append(page.Panels, htmlPanelOf(p, opt.Top))
	}
	bw := bufio.NewWriter(w)
	if err := reportTemplate.Execute(bw, page); err != nil {
		return fmt.Errorf("cannot write the HTML report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write the HTML report: %w", err)
	}
	return nil
}

func spanShort(o Overview) string {
	if o.First == "" {
		return "-"
	}
	return o.First + " … " + o.Last
}

func htmlPanelOf(p Panel, top int) htmlPanel {
	hp := htmlPanel{ID: p.ID, Title: p.Title, Note: p.Note, Columns: p.Columns, Count: len(p.Rows)}
	if p.Chart == "bars" {
		hp.Chart = columnChart(p)
		top = len(p.Rows) // a series is shown whole
	} else if p.ID == "latency" {
		// Hits are in the URL panels already; here the busiest URLs'
		// p95 request time.
		hp.Chart = barChart(p, 10, 2)
		hp.Caption = "p95 request time of the 10 busiest URLs"
	} else if len(p.Rows) > 1 && p.ID != "slowest" {
		hp.Chart = barChart(p, 10, 0)
	}
	var flat func(rows []Row, depth int, dst *[]htmlRow)
	flat = func(rows []Row, depth int, dst *[]htmlRow) {
		for _, r := range rows {
			hr := htmlRow{Name: DisplayName(r.Name), Depth: depth}
			for j, v := range r.Values {
				c := htmlCell{Text: FormatValue(float64(v), p.Columns[j].Unit)}
				if p.Columns[j].Unit == "percent" && !math.IsNaN(float64(v)) {
					c.Bar = template.CSS("width:" + strconv.FormatFloat(min(100, max(0, float64(v))), 'f', 2, 64) + "%")
				}
				hr.Cells = append(hr.Cells, c)
			}
			*dst = append(*dst, hr)
			flat(r.Rows, depth+1, dst)
		}
	}
	n := min(top, len(p.Rows))
	flat(p.Rows[:n], 0, &hp.Rows)
	flat(p.Rows[n:], 0, &hp.More)
	return hp
}

// Chart geometry, in SVG user units (the SVG scales to the page width).
const (
	chartW    = 560.0
	chartH    = 180.0
	chartPadL = 48.0
	chartPadB = 22.0
)

// columnChart draws a series panel (days, hours) as vertical bars of
// its first column.
func columnChart(p Panel) template.HTML {
	if len(p.Rows) == 0 {
		return ""
	}
	top := 0.0
	for _, r := range p.Rows {
		top = max(top, float64(r.Values[0]))
	}
	if top <= 0 {
		top = 1
	}
	unit := p.Columns[0].Unit
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s">`, chartW, chartH, html.EscapeString(p.Title))
	plotH := chartH - chartPadB - 8
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="8" x2="%g" y2="%g"/>`, chartPadL, chartPadL, 8+plotH)
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="14" text-anchor="end">%s</text>`, chartPadL-4, html.EscapeString(FormatValue(top, unit)))
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g" text-anchor="end">0</text>`, chartPadL-4, 8+plotH)
	step := (chartW - chartPadL - 4) / float64(len(p.Rows))
	every := max(1, len(p.Rows)/24) // at most ~24 labels
	for i, r := range p.Rows {
		v := float64(r.Values[0])
		h := plotH * v / top
		x := chartPadL + 2 + float64(i)*step
		fmt.Fprintf(&b, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>%s: %s</title></rect>`,
			x+step*0.1, 8+plotH-h, step*0.8, h, html.EscapeString(r.Name), html.EscapeString(FormatValue(v, unit)))
		if i%every == 0 {
			fmt.Fprintf(&b, `<text class="tick" x="%.2f" y="%g" text-anchor="middle">%s</text>`, x+step/2, chartH-6, html.EscapeString(r.Name))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barChart draws the first n rows of a panel as horizontal bars of
// column col.
func barChart(p Panel, n, col int) template.HTML {
	rows := p.Rows[:min(n, len(p.Rows))]
	top := 0.0
	for _, r := range rows {
		if v := float64(r.Values[col]); !math.IsNaN(v) {
			top = max(top, v)
		}
	}
	if top <= 0 {
		return ""
	}
	const rowH, labelW = 20.0, 200.0
	h := rowH*float64(len(rows)) + 4
	unit := p.Columns[col].Unit
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart hbars" viewBox="0 0 %g %g" role="img" aria-label="%s">`, chartW, h, html.EscapeString(p.Title))
	for i, r := range rows {
		v := float64(r.Values[col])
		if math.IsNaN(v) {
			v = 0
		}
		y := 2 + float64(i)*rowH
		w := (chartW - labelW - 90) * v / top
		fmt.Fprintf(&b, `<text class="label" x="%g" y="%.1f" text-anchor="end">%s</text>`, labelW-6, y+14, html.EscapeString(cut(DisplayName(r.Name), 30)))
		fmt.Fprintf(&b, `<rect class="bar" x="%g" y="%.1f" width="%.2f" height="%g"><title>%s: %s</title></rect>`,
			labelW, y+3, w, rowH-6, html.EscapeString(DisplayName(r.Name)), html.EscapeString(FormatValue(v, unit)))
		fmt.Fprintf(&b, `<text class="tick" x="%.2f" y="%.1f">%s</text>`, labelW+w+6, y+14, html.EscapeString(FormatValue(v, unit)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
