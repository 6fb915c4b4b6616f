package graphite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/daemon/timespec"
)

// Options are /render's output parameters.
type Options struct {
	Format        string // json (default), csv, raw, png, svg
	MaxDataPoints int    // 0: no limit
	NoNullPoints  bool
	Pretty        bool
	JSONP         string
	Width, Height int
	Title         string
}

// ParseRender reads /render's parameters as graphite-web's parseOptions
// does: target (or target[]), from (default -1d), until and now (default
// the clock), tz, xFilesFactor, format (rawData means raw),
// maxDataPoints, noNullPoints, pretty, jsonp, width, height, title.
func ParseRender(form url.Values, now time.Time) (Request, Options, error) {
	var r Request
	var o Options
	r.Targets = form["target"]
	if len(r.Targets) == 0 {
		r.Targets = form["target[]"]
	}
	loc := time.UTC
	if tz := form.Get("tz"); tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	r.Location = loc
	if s := form.Get("now"); s != "" {
		t, err := timespec.ParseTime(s, now, loc)
		if err != nil {
			return r, o, inputErrorf("now: %v", err)
		}
		now = t
	}
	until, from := now, now.Add(-24*time.Hour)
	if s := form.Get("until"); s != "" {
		t, err := timespec.ParseTime(s, now, loc)
		if err != nil {
			return r, o, inputErrorf("until: %v", err)
		}
		until = t
	}
	if s := form.Get("from"); s != "" {
		t, err := timespec.ParseTime(s, now, loc)
		if err != nil {
			return r, o, inputErrorf("from: %v", err)
		}
		from = t
	}
	if until.Before(from) {
		from, until = until, from
	}
	if from.Equal(until) {
		return r, o, inputErrorf("Invalid empty time range")
	}
	r.From, r.Until, r.Now = from.Unix(), until.Unix(), now.Unix()
	if s := form.Get("xFilesFactor"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return r, o, inputErrorf("xFilesFactor=%q: want a number", s)
		}
		r.XFilesFactor = f
	}
	if form.Has("rawData") {
		o.Format = "raw"
	}
	if f := form.Get("format"); f != "" {
		o.Format = f
	}
	if o.Format == "" {
		o.Format = "png"
	}
	switch o.Format {
	case "json", "csv", "raw", "png", "svg":
	default:
		return r, o, inputErrorf("format=%s: want json, csv, raw, png or svg", o.Format)
	}
	if n, err := strconv.Atoi(form.Get("maxDataPoints")); err == nil && n >= 0 {
		o.MaxDataPoints = n
	}
	o.NoNullPoints = form.Has("noNullPoints")
	o.Pretty = form.Get("pretty") != ""
	o.JSONP = form.Get("jsonp")
	o.Width, _ = strconv.Atoi(form.Get("width"))
	o.Height, _ = strconv.Atoi(form.Get("height"))
	o.Title = form.Get("title")
	return r, o, nil
}

// Consolidate folds each series to at most maxDataPoints points, as
// graphite-web's JSON output does: the bands are aligned to multiples of
// their width since the epoch so a refresh does not shift them.
func Consolidate(series []*Series, maxDataPoints int) {
	if maxDataPoints <= 0 || len(series) == 0 {
		return
	}
	start, end := series[0].Start, series[0].End
	for _, s := range series {
		start, end = min(start, s.Start), max(end, s.End)
	}
	timeRange := end - start
	for _, s := range series {
		if maxDataPoints == 1 {
			s.ValuesPerPoint = max(1, len(s.Values))
			continue
		}
		if s.Step <= 0 {
			continue
		}
		points := float64(timeRange) / float64(s.Step)
		if float64(maxDataPoints) >= points {
			continue
		}
		vpp := int64(math.Ceil(points / float64(maxDataPoints)))
		spp := vpp * s.Step
		nudge := spp + mod(s.Start, s.Step) - mod(s.Start, spp)
		s.Start += nudge
		// graphite-web drops one value fewer than the nudge covers.
		lose := int(nudge/s.Step) - 1
		if lose > 0 {
			s.Values = s.Values[min(lose, len(s.Values)):]
		}
		s.ValuesPerPoint = int(vpp)
	}
}

// WriteJSON writes graphite-web's format=json.
func WriteJSON(w io.Writer, series []*Series, o Options) error {
	var b bytes.Buffer
	if o.JSONP != "" {
		b.WriteString(o.JSONP + "(")
	}
	b.WriteByte('[')
	first := true
	for _, s := range series {
		dps := s.Datapoints()
		if o.NoNullPoints {
			kept := dps[:0]
			for _, d := range dps {
				if !isNull(d.V) {
					kept = append(kept, d)
				}
			}
			dps = kept
			if len(dps) == 0 {
				continue
			}
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(`{"target": `)
		writeJSONString(&b, s.Name)
		b.WriteString(`, "tags": {`)
		keys := sortedKeys(s.Tags)
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSONString(&b, k)
			b.WriteString(": ")
			writeJSONString(&b, s.Tags[k])
		}
		b.WriteString(`}, "datapoints": [`)
		for i, d := range dps {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('[')
			b.WriteString(jsonNumber(d.V))
			b.WriteString(", ")
			b.WriteString(strconv.FormatInt(d.T, 10))
			b.WriteByte(']')
		}
		b.WriteString("]}")
	}
	b.WriteByte(']')
	if o.JSONP != "" {
		b.WriteByte(')')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// jsonNumber writes a value as graphite-web does: null for NaN, 1e9999
// for infinity.
func jsonNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "null"
	case math.IsInf(v, 1):
		return "1e9999"
	case math.IsInf(v, -1):
		return "-1e9999"
	}
	return pyFloat(v)
}

func writeJSONString(b *bytes.Buffer, s string) {
	j, _ := json.Marshal(s)
	b.Write(j)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// WriteCSV writes graphite-web's format=csv: name,time,value per point,
// times in loc, an empty value for null.
func WriteCSV(w io.Writer, series []*Series, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	var b bytes.Buffer
	for _, s := range series {
		name := s.Name
		if strings.ContainsAny(name, ",\"\r\n") {
			name = `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
		}
		for i, v := range s.Points() {
			t := time.Unix(s.Start+int64(i)*s.Step, 0).In(loc).Format("2006-01-02 15:04:05")
			val := ""
			if !isNull(v) {
				val = pyFloat(v)
			}
			fmt.Fprintf(&b, "%s,%s,%s\r\n", name, t, val)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteRaw writes graphite-web's format=raw: name,start,end,step|v,v,...
// with None for null.
func WriteRaw(w io.Writer, series []*Series) error {
	var b bytes.Buffer
	for _, s := range series {
		fmt.Fprintf(&b, "%s,%d,%d,%d|", s.Name, s.Start, s.End, s.Step)
		for i, v := range s.Points() {
			if i > 0 {
				b.WriteByte(',')
			}
			if isNull(v) {
				b.WriteString("None")
			} else {
				b.WriteString(pyFloat(v))
			}
		}
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}
