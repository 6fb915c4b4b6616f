// Package collector is the Go guest API for canopy-agent collector modules:
// Ganglia's gmond module contract compiled to WebAssembly. A module
// registers metric_init (returns metric descriptors, each with a callback)
// and metric_cleanup; the agent asks every metric's value on the schedule of
// its collection group. See README.md for a whole module in one file.
//
// Build a module with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags='-s -w' -o mod.wasm .
package collector

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/canopy-dev/canopy/sdk/collectorabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

// Metric is one metric descriptor returned by Init, as in a Ganglia Python
// module's descriptor dictionary.
type Metric struct {
	Name string
	// CallBack returns the current value: float64, float32, any integer, or
	// string (for value_type string). It gets the metric's name so one
	// function can serve many metrics, as in gmond.
	CallBack func(name string) (any, error)
	// TimeMax is the longest the value stays valid, in seconds (default 60).
	TimeMax int
	// ValueType is string, uint, int, float or double (default double).
	ValueType   string
	Units       string
	Slope       string // zero, positive, negative or both (default both)
	Format      string // printf format, e.g. "%.1f"
	Groups      string // e.g. "cpu"
	Description string
}

// Module is a collector module: Ganglia's metric_init and metric_cleanup.
type Module struct {
	// Init is metric_init(params): params arrive as strings from the
	// module's .pyconf `param NAME { value = ... }` entries.
	Init func(params map[string]string) ([]Metric, error)
	// Collect, when set, runs once before the callbacks of a collection
	// round, so a module can read /proc/stat once for all its metrics.
	Collect func() error
	// Cleanup is metric_cleanup(); optional.
	Cleanup func()
}

type registered struct {
	mod     Module
	metrics []Metric
	forward []string
}

type registry struct {
	mods  map[string]*registered
	names []string
	out   []byte
}

// reg is the module's registry: a guest binary is one process whose
// modules register from init functions, so it lives at package level.
var reg = &registry{mods: map[string]*registered{}}

// Register adds a module under name (the `name` of its .pyconf module
// block). Call it from an init function. One .wasm may hold several modules;
// the agent then runs them in one instance.
func Register(name string, m Module) {
	if m.Init == nil {
		panic("collector: module " + name + " has no Init")
	}
	if _, dup := reg.mods[name]; dup {
		panic("collector: module " + name + " registered twice")
	}
	reg.mods[name] = &registered{mod: m}
	reg.names = append(reg.names, name)
	sort.Strings(reg.names)
}

// Forward queues raw access-log lines for the daemon's pipes; the agent
// sends them with the next push (form field accesslog). Call it from a
// callback or Collect of module name.
func Forward(module string, lines ...string) {
	if r := reg.mods[module]; r != nil {
		r.forward = append(r.forward, lines...)
	}
}

func errResult(dst []byte, err error) []byte {
	dst = append(dst[:0], wire.StatusError)
	return wire.AppendString(dst, err.Error())
}

//lint:ignore U1000 called by the wasip1 exports (export_wasip1.go)
func (r *registry) modules() []byte {
	out := append(r.out[:0], wire.StatusOK)
	out = wire.AppendU32(out, uint32(len(r.names)))
	for _, n := range r.names {
		out = wire.AppendString(out, n)
	}
	r.out = out
	return out
}

func (r *registry) init(in []byte) []byte {
	name, params, err := collectorabi.DecodeModuleRequest(in)
	if err != nil {
		r.out = errResult(r.out, err)
		return r.out
	}
	m := r.mods[name]
	if m == nil {
		r.out = errResult(r.out, fmt.Errorf("this module file holds no module %q (it holds %v)", name, r.names))
		return r.out
	}
	metrics, err := m.mod.Init(params)
	if err != nil {
		r.out = errResult(r.out, fmt.Errorf("metric_init of %s: %w", name, err))
		return r.out
	}
	ds := make([]collectorabi.Descriptor, len(metrics))
	for i, mt := range metrics {
		d, err := describe(mt)
		if err != nil {
			r.out = errResult(r.out, fmt.Errorf("metric_init of %s: %w", name, err))
			return r.out
		}
		ds[i] = d
	}
	m.metrics = metrics
	out := append(r.out[:0], wire.StatusOK)
	r.out = collectorabi.AppendDescriptors(out, ds)
	return r.out
}

func describe(m Metric) (collectorabi.Descriptor, error) {
	if m.Name == "" {
		return collectorabi.Descriptor{}, errors.New("a metric has no name")
	}
	if m.CallBack == nil {
		return collectorabi.Descriptor{}, fmt.Errorf("metric %q has no CallBack", m.Name)
	}
	vt := m.ValueType
	if vt == "" {
		vt = "double"
	}
	t, err := collectorabi.ParseValueType(vt)
	if err != nil {
		return collectorabi.Descriptor{}, fmt.Errorf("metric %q: %w", m.Name, err)
	}
	s, err := collectorabi.ParseSlope(m.Slope)
	if err != nil {
		return collectorabi.Descriptor{}, fmt.Errorf("metric %q: %w", m.Name, err)
	}
	tm := m.TimeMax
	if tm <= 0 {
		tm = 60
	}
	return collectorabi.Descriptor{Name: m.Name, ValueType: t, Units: m.Units, Slope: s, TimeMax: uint32(tm),
		Format: m.Format, Groups: m.Groups, Description: m.Description}, nil
}

func (r *registry) values(in []byte) []byte {
	name, idx, err := collectorabi.DecodeValuesRequest(in)
	if err != nil {
		r.out = errResult(r.out, err)
		return r.out
	}
	m := r.mods[name]
	if m == nil || m.metrics == nil {
		r.out = errResult(r.out, fmt.Errorf("module %q was not initialised", name))
		return r.out
	}
	var v collectorabi.Values
	v.Values = make([]collectorabi.MetricValue, len(idx))
	var collectErr error
	if m.mod.Collect != nil {
		collectErr = m.mod.Collect()
	}
	for i, x := range idx {
		if int(x) >= len(m.metrics) {
			r.out = errResult(r.out, fmt.Errorf("metric index %d out of range (%d metrics)", x, len(m.metrics)))
			return r.out
		}
		if collectErr != nil {
			v.Values[i] = collectorabi.MetricValue{Kind: collectorabi.ValueMissing, Text: collectErr.Error()}
			continue
		}
		mt := m.metrics[x]
		v.Values[i] = toValue(mt.CallBack(mt.Name))
	}
	v.Forward = m.forward
	out := append(r.out[:0], wire.StatusOK)
	r.out = collectorabi.AppendValues(out, &v)
	m.forward = m.forward[:0]
	return r.out
}

func toValue(x any, err error) collectorabi.MetricValue {
	if err != nil {
		return collectorabi.MetricValue{Kind: collectorabi.ValueMissing, Text: err.Error()}
	}
	var f float64
	switch v := x.(type) {
	case nil:
		return collectorabi.MetricValue{Kind: collectorabi.ValueMissing, Text: "no value"}
	case string:
		return collectorabi.MetricValue{Kind: collectorabi.ValueText, Text: v}
	case float64:
		f = v
	case float32:
		f = float64(v)
	case int:
		f = float64(v)
	case int32:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint:
		f = float64(v)
	case uint32:
		f = float64(v)
	case uint64:
		f = float64(v)
	default:
		return collectorabi.MetricValue{Kind: collectorabi.ValueMissing, Text: fmt.Sprintf("callback returned %T", x)}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return collectorabi.MetricValue{Kind: collectorabi.ValueMissing, Text: "not finite: " + strconv.FormatFloat(f, 'g', -1, 64)}
	}
	return collectorabi.MetricValue{Kind: collectorabi.ValueNumber, Number: f}
}

//lint:ignore U1000 called by the wasip1 exports (export_wasip1.go)
func (r *registry) cleanup(in []byte) []byte {
	name, _, err := collectorabi.DecodeModuleRequest(in)
	if err != nil {
		r.out = errResult(r.out, err)
		return r.out
	}
	if m := r.mods[name]; m != nil {
		if m.mod.Cleanup != nil {
			m.mod.Cleanup()
		}
		m.metrics = nil
		m.forward = nil
	}
	r.out = append(r.out[:0], wire.StatusOK)
	return r.out
}
