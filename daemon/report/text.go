package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteJSON writes r in the shape of docs/report.md, indented.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("cannot write the JSON report: %w", err)
	}
	return nil
}

// TextOptions shape the text report.
type TextOptions struct {
	Top     int // rows per panel (and sub-rows per row); 0: all
	NameMax int // name column width cap in characters (default 60)
}

// WriteText writes r as aligned tables for a terminal.
func WriteText(w io.Writer, r *Report, opt TextOptions) error {
	if opt.NameMax <= 0 {
		opt.NameMax = 60
	}
	bw := bufio.NewWriter(w)
	o := r.Overview
	fmt.Fprintln(bw, "Overview")
	files := make([]string, len(o.Files))
	for i, f := range o.Files {
		files[i] = f.Name
	}
	kv := [][2]string{
		{"Log files", strings.Join(files, ", ")},
		{"Log size", FormatValue(float64(o.LogSize), "bytes")},
		{"Time span", spanText(o)},
		{"Total requests", strconv.FormatUint(o.TotalRequests, 10)},
		{"Valid requests", strconv.FormatUint(o.ValidRequests, 10)},
		{"Failed requests", strconv.FormatUint(o.FailedRequests, 10)},
		{"Unique visitors", FormatValue(float64(o.UniqueVisitors), "count")},
		{"Bandwidth", FormatValue(float64(o.Bandwidth), "bytes")},
		{"Pages / static / 404", FormatValue(float64(o.Pages), "count") + " / " + FormatValue(float64(o.Static), "count") + " / " + FormatValue(float64(o.NotFound), "count")},
		{"Request time avg", FormatValue(float64(o.ReqTimeAvg), "seconds")},
		{"Upstream time avg", FormatValue(float64(o.UpstreamAvg), "seconds")},
	}
	for _, p := range kv {
		fmt.Fprintf(bw, "  %-22s %s\n", p[0], p[1])
	}
	for _, p := range r.Panels {
		fmt.Fprintf(bw, "\n%s\n", p.Title)
		if len(p.Rows) == 0 {
			fmt.Fprintf(bw, "  (no data: %s)\n", p.Note)
			continue
		}
		writeTable(bw, p, opt)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write the text report: %w", err)
	}
	return nil
}

func spanText(o Overview) string {
	if o.First == "" {
		return "-"
	}
	return fmt.Sprintf("%s … %s (%s)", o.First, o.Last, time.Duration(o.Span*float64(time.Second)).Round(time.Second))
}

// writeTable aligns names left and values right, sub-rows indented.
func writeTable(w io.Writer, p Panel, opt TextOptions) {
	type line struct {
		name  string
		cells []string
	}
	var lines []line
	// A series (days, hours) is shown whole: a cut one would mislead.
	top := opt.Top
	if p.Chart != "" {
		top = 0
	}
	var more func(rows []Row, depth int)
	more = func(rows []Row, depth int) {
		for i, r := range rows {
			if top > 0 && i == top {
				lines = append(lines, line{name: strings.Repeat("  ", depth) + fmt.Sprintf("… %d more", len(rows)-i)})
				return
			}
			l := line{name: strings.Repeat("  ", depth) + cut(DisplayName(r.Name), opt.NameMax)}
			for j, v := range r.Values {
				l.cells = append(l.cells, FormatValue(float64(v), p.Columns[j].Unit))
			}
			lines = append(lines, l)
			more(r.Rows, depth+1)
		}
	}
	more(p.Rows, 0)
	nameW := 4
	widths := make([]int, len(p.Columns))
	for j, c := range p.Columns {
		widths[j] = utf8.RuneCountInString(c.Name)
	}
	for _, l := range lines {
		nameW = max(nameW, utf8.RuneCountInString(l.name))
		for j, c := range l.cells {
			widths[j] = max(widths[j], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	b.WriteString("  " + pad("name", nameW, false))
	for j, c := range p.Columns {
		b.WriteString("  " + pad(c.Name, widths[j], true))
	}
	fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	for _, l := range lines {
		b.Reset()
		b.WriteString("  " + pad(l.name, nameW, false))
		for j, c := range l.cells {
			b.WriteString("  " + pad(c, widths[j], true))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func pad(s string, w int, right bool) string {
	n := w - utf8.RuneCountInString(s)
	if n <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", n) + s
	}
	return s + strings.Repeat(" ", n)
}

// cut shortens s to n characters, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// DisplayName is a row name as people read it: the _other row of a
// bounded list is "(other)", geo's _unknown "(unknown)".
func DisplayName(name string) string {
	switch name {
	case Other:
		return "(other)"
	case "_unknown":
		return "(unknown)"
	}
	return name
}

// FormatValue writes v in unit: counts as integers, bytes in IEC units,
// percent with two decimals, seconds in ms or s, "-" when unknown.
func FormatValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	switch unit {
	case "percent":
		return strconv.FormatFloat(v, 'f', 2, 64) + "%"
	case "bytes":
		return sizeIEC(v)
	case "seconds":
		switch {
		case v >= 60:
			return strconv.FormatFloat(v, 'f', 1, 64) + " s"
		case v >= 1:
			return strconv.FormatFloat(v, 'f', 3, 64) + " s"
		case v >= 0.01:
			return strconv.FormatFloat(v*1000, 'f', 1, 64) + " ms"
		default:
			return strconv.FormatFloat(v*1000, 'f', 2, 64) + " ms"
		}
	case "code":
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func sizeIEC(n float64) string {
	if n < 1024 {
		return strconv.FormatFloat(n, 'f', 0, 64) + " B"
	}
	i := 0
	for n >= 1024 && i < 5 {
		n /= 1024
		i++
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + " " + string("KMGTP"[i-1]) + "iB"
}
