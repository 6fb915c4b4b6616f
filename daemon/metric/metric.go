// Package metric is canopy's /metrics: counters and gauges kept by
// github.com/VictoriaMetrics/metrics (one private Set per registry, never
// the library's default one), plus scrape-time collectors, written in the
// Prometheus text format with HELP and TYPE lines that pass
// `promtool check metrics`.
package metric

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// Type is a metric family's TYPE.
type Type string

const (
	Counter Type = "counter"
	Gauge   Type = "gauge"
)

// Registry holds the metrics of one daemon or relay.
type Registry struct {
	set     *metrics.Set
	runtime bool // add the Go runtime and process metrics

	mu         sync.Mutex
	fams       map[string]family // static families by name
	samples    map[string]sample // by full sample name (with labels)
	collectors []func(*Exposition)
}

type family struct {
	help string
	typ  Type
}

type sample struct {
	family string
	labels string // `{a="x"}` or ""
	value  func() float64
}

// NewRegistry makes an empty registry; runtime adds go_* and process_*.
func NewRegistry(runtime bool) *Registry {
	return &Registry{set: metrics.NewSet(), runtime: runtime,
		fams: map[string]family{}, samples: map[string]sample{}}
}

func (r *Registry) declare(name, help string, typ Type) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.fams[name]; ok && f.typ != typ {
		panic(fmt.Sprintf("metric %s declared as %s and %s", name, f.typ, typ))
	}
	r.fams[name] = family{help: help, typ: typ}
}

func (r *Registry) add(name, labels string, value func() float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.samples[name+labels]; !ok {
		r.samples[name+labels] = sample{family: name, labels: labels, value: value}
	}
}

// CounterVec is a counter family with labels; With picks one counter.
type CounterVec struct {
	r      *Registry
	name   string
	labels []string
}

// NewCounterVec declares a counter family with the given label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	r.declare(name, help, Counter)
	return &CounterVec{r: r, name: name, labels: labels}
}

// With returns the counter for these label values (created at zero).
func (v *CounterVec) With(values ...string) *metrics.Counter {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metric %s: %d label values for %d labels", v.name, len(values), len(v.labels)))
	}
	kv := make([]string, 0, 2*len(values))
	for i, val := range values {
		kv = append(kv, v.labels[i], val)
	}
	labels := labelString(kv)
	c := v.r.set.GetOrCreateCounter(v.name + labels)
	v.r.add(v.name, labels, func() float64 { return float64(c.Get()) })
	return c
}

// Sum is the total over every label set made so far.
func (v *CounterVec) Sum() float64 {
	v.r.mu.Lock()
	var fs []func() float64
	for _, s := range v.r.samples {
		if s.family == v.name {
			fs = append(fs, s.value)
		}
	}
	v.r.mu.Unlock()
	total := 0.0
	for _, f := range fs {
		total += f()
	}
	return total
}

// NewCounter declares a counter without labels.
func (r *Registry) NewCounter(name, help string) *metrics.Counter {
	r.declare(name, help, Counter)
	c := r.set.NewCounter(name)
	r.add(name, "", func() float64 { return float64(c.Get()) })
	return c
}

// NewGauge declares a gauge without labels, moved with Inc/Dec/Set.
func (r *Registry) NewGauge(name, help string) *metrics.Gauge {
	r.declare(name, help, Gauge)
	g := r.set.NewGauge(name, nil)
	r.add(name, "", g.Get)
	return g
}

// NewGaugeFunc declares a gauge read from f at scrape time.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64) {
	r.declare(name, help, Gauge)
	r.add(name, "", f)
}

// NewCounterFunc declares a counter read from f at scrape time (for a
// count another package keeps).
func (r *Registry) NewCounterFunc(name, help string, f func() float64) {
	r.declare(name, help, Counter)
	r.add(name, "", f)
}

// Collect adds a function that writes metrics known only at scrape time.
func (r *Registry) Collect(f func(*Exposition)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, f)
}

// WritePrometheus writes every metric, families sorted by name.
func (r *Registry) WritePrometheus(w io.Writer) {
	e := &Exposition{fams: map[string]*expFamily{}}
	r.mu.Lock()
	for _, s := range r.samples {
		f := r.fams[s.family]
		e.add(s.family, f.help, f.typ, s.family+s.labels, s.value())
	}
	collectors := slices.Clone(r.collectors)
	r.mu.Unlock()
	for _, c := range collectors {
		c(e)
	}
	if r.runtime {
		e.addRuntime()
	}
	e.write(w)
}

// Handler serves WritePrometheus.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		r.WritePrometheus(w)
	})
}

// Exposition gathers one scrape; collectors add samples to it in any order
// and it writes each family's samples together, as the format requires.
type Exposition struct {
	fams map[string]*expFamily
}

type expFamily struct {
	help  string
	typ   Type
	lines []string // "name{labels} value"
}

// Counter adds a counter sample; labels are name, value pairs.
func (e *Exposition) Counter(name, help string, v float64, labels ...string) {
	e.add(name, help, Counter, name+labelString(labels), v)
}

// Gauge adds a gauge sample; labels are name, value pairs.
func (e *Exposition) Gauge(name, help string, v float64, labels ...string) {
	e.add(name, help, Gauge, name+labelString(labels), v)
}

func (e *Exposition) add(fam, help string, typ Type, sample string, v float64) {
	e.addLine(fam, help, typ, sample+" "+strconv.FormatFloat(v, 'g', -1, 64))
}

func (e *Exposition) addLine(fam, help string, typ Type, line string) {
	f := e.fams[fam]
	if f == nil {
		f = &expFamily{help: help, typ: typ}
		e.fams[fam] = f
	}
	f.lines = append(f.lines, line)
}

// addRuntime takes the library's go_* and process_* metrics. They come
// without metadata (turning it on is a switch global to the library), so
// the types are read off the names: a family with quantile samples is a
// summary, one with _bucket samples a histogram, _total a counter, the
// rest gauges; a lone _count outside a summary or histogram is left out
// (promtool refuses the name).
func (e *Exposition) addRuntime() {
	var buf bytes.Buffer
	metrics.WriteProcessMetrics(&buf)
	var lines, names []string
	types := map[string]Type{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		i := strings.IndexAny(line, "{ ")
		if line == "" || line[0] == '#' || i < 0 {
			continue
		}
		name := line[:i]
		lines, names = append(lines, line), append(names, name)
		switch {
		case strings.HasPrefix(line[i:], `{quantile="`):
			types[name] = "summary"
		case strings.HasSuffix(name, "_bucket"):
			types[strings.TrimSuffix(name, "_bucket")] = "histogram"
		}
	}
	for i, line := range lines {
		fam, typ := names[i], types[names[i]]
		for _, suf := range []string{"_sum", "_count", "_bucket"} {
			if base, ok := strings.CutSuffix(fam, suf); ok && types[base] != "" {
				fam, typ = base, types[base]
			}
		}
		switch {
		case typ != "":
		case strings.HasSuffix(fam, "_total"):
			typ = Counter
		case strings.HasSuffix(fam, "_count"):
			continue
		default:
			typ = Gauge
		}
		e.addLine(fam, "Go runtime or process metric "+fam+".", typ, line)
	}
}

func (e *Exposition) write(w io.Writer) {
	names := make([]string, 0, len(e.fams))
	for n := range e.fams {
		names = append(names, n)
	}
	slices.Sort(names)
	bw := bufio.NewWriter(w)
	for _, n := range names {
		f := e.fams[n]
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", n, escapeHelp(f.help), n, f.typ)
		if f.typ == Counter || f.typ == Gauge {
			slices.Sort(f.lines) // the runtime's summaries and histograms keep their order
		}
		for _, l := range f.lines {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
	}
	bw.Flush()
}

func labelString(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	if len(kv)%2 != 0 {
		panic("metric: odd label list")
	}
	pairs := make([]string, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		pairs = append(pairs, kv[i]+"="+quote(kv[i+1]))
	}
	slices.Sort(pairs)
	return "{" + strings.Join(pairs, ",") + "}"
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func quote(v string) string      { return `"` + labelEscaper.Replace(v) + `"` }
func escapeHelp(h string) string { return helpEscaper.Replace(h) }
