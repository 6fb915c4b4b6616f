// Package collectorabi is the versioned contract between canopy-agent and a
// WASM collector module (Ganglia's gmond module contract): the exports, the
// host imports and their encodings. README.md in this folder is the
// normative spec; this package is its Go implementation, shared by the guest
// SDK (sdk/collector) and the agent (agent/modules). It builds on sdk/wire
// (primitives, result convention, canopy_api_version and canopy_alloc) and
// does not depend on the pipe ABI.
package collectorabi

import (
	"errors"
	"fmt"
	"math"

	"github.com/canopy-dev/canopy/sdk/wire"
)

// Version is the ABI version a collector module reports through
// canopy_api_version (wire.ExportAPIVersion); the agent refuses any other
// value. It moves independently of the pipe ABI's.
const Version = 1

// Exports of a collector module, besides wire.ExportAPIVersion and
// wire.ExportAlloc.
const (
	ExportCollectorModules = "canopy_collector_modules" // () -> result list<str>
	ExportMetricInit       = "canopy_metric_init"       // (ptr, len) -> result list<descriptor>
	ExportMetricValues     = "canopy_metric_values"     // (ptr, len) -> result values
	ExportMetricCleanup    = "canopy_metric_cleanup"    // (ptr, len) -> result
)

// CollectorHostModule is the import module name of the collector host calls.
const CollectorHostModule = "canopy_collector"

// Host functions a collector may import from CollectorHostModule.
const (
	// http_get(url_ptr, url_len, timeout_ms i32) -> i32: fetches a granted
	// URL; returns the byte length of the encoded HTTPResponse, read with
	// result_read.
	ImportHTTPGet = "http_get"
	// tail_read(path_ptr, path_len, max i32) -> i32: complete new lines of a
	// granted file since the last call (the first call starts at the end);
	// returns the byte length of the answer, read with result_read: a
	// status byte (StatusOK, or StatusError and an error text), then the
	// lines.
	ImportTailRead = "tail_read"
	// statfs(path_ptr, path_len) -> i32: space of a granted mount point as
	// a status byte like tail_read's, then five u64 (total, free, available
	// bytes; total, free inodes); read with result_read.
	ImportStatfs = "statfs"
	// result_read(ptr, len i32) -> i32: copies the last host result into the
	// module's memory; returns the bytes copied.
	ImportResultRead = "result_read"
)

// Value types of a metric descriptor, as Ganglia spells them.
const (
	TypeString uint8 = iota
	TypeUint
	TypeInt
	TypeFloat
	TypeDouble
)

var valueTypeNames = [...]string{"string", "uint", "int", "float", "double"}

// ValueTypeName returns Ganglia's spelling of a value type.
func ValueTypeName(t uint8) string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", t)
}

// ParseValueType parses Ganglia's value_type spelling.
func ParseValueType(s string) (uint8, error) {
	for i, n := range valueTypeNames {
		if n == s {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("unknown value_type %q (want string, uint, int, float or double)", s)
}

// Slopes of a metric descriptor (Ganglia's, plus unspecified).
const (
	SlopeZero uint8 = iota
	SlopePositive
	SlopeNegative
	SlopeBoth
	SlopeUnspecified
)

var slopeNames = [...]string{"zero", "positive", "negative", "both", "unspecified"}

// SlopeName returns Ganglia's spelling of a slope.
func SlopeName(s uint8) string {
	if int(s) < len(slopeNames) {
		return slopeNames[s]
	}
	return fmt.Sprintf("slope(%d)", s)
}

// ParseSlope parses Ganglia's slope spelling ("" is both).
func ParseSlope(s string) (uint8, error) {
	if s == "" {
		return SlopeBoth, nil
	}
	for i, n := range slopeNames {
		if n == s {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("unknown slope %q (want zero, positive, negative or both)", s)
}

// Descriptor is one metric a module declares in metric_init, Ganglia's
// descriptor without the callback.
type Descriptor struct {
	Name        string
	ValueType   uint8
	Units       string
	Slope       uint8
	TimeMax     uint32 // seconds
	Format      string
	Groups      string
	Description string
}

// AppendDescriptors appends list<descriptor> to dst.
func AppendDescriptors(dst []byte, ds []Descriptor) []byte {
	dst = wire.AppendU32(dst, uint32(len(ds)))
	for _, d := range ds {
		dst = wire.AppendString(dst, d.Name)
		dst = append(dst, d.ValueType)
		dst = wire.AppendString(dst, d.Units)
		dst = append(dst, d.Slope)
		dst = wire.AppendU32(dst, d.TimeMax)
		dst = wire.AppendString(dst, d.Format)
		dst = wire.AppendString(dst, d.Groups)
		dst = wire.AppendString(dst, d.Description)
	}
	return dst
}

// MaxMetrics bounds the descriptors one module may declare.
const MaxMetrics = 4096

// DecodeDescriptors decodes and checks list<descriptor> (strings copied).
func DecodeDescriptors(b []byte) ([]Descriptor, error) {
	d := wire.Decoder{B: b}
	n := d.Count(22)
	if n > MaxMetrics {
		return nil, fmt.Errorf("module declares %d metrics (max %d)", n, MaxMetrics)
	}
	out := make([]Descriptor, 0, n)
	seen := make(map[string]bool, n)
	for i := 0; i < n && d.Err == nil; i++ {
		x := Descriptor{Name: wire.Clone(d.String()), ValueType: d.U8(), Units: wire.Clone(d.String()),
			Slope: d.U8(), TimeMax: d.U32(), Format: wire.Clone(d.String()), Groups: wire.Clone(d.String()),
			Description: wire.Clone(d.String())}
		if d.Err != nil {
			break
		}
		if err := checkMetricName(x.Name); err != nil {
			return nil, fmt.Errorf("metric %d: %w", i, err)
		}
		if seen[x.Name] {
			return nil, fmt.Errorf("metric %q declared twice", x.Name)
		}
		seen[x.Name] = true
		if int(x.ValueType) >= len(valueTypeNames) {
			return nil, fmt.Errorf("metric %q: unknown value type %d", x.Name, x.ValueType)
		}
		if int(x.Slope) >= len(slopeNames) {
			return nil, fmt.Errorf("metric %q: unknown slope %d", x.Name, x.Slope)
		}
		out = append(out, x)
	}
	if d.Err != nil {
		return nil, fmt.Errorf("malformed descriptors: %w", d.Err)
	}
	if d.Off != len(b) {
		return nil, fmt.Errorf("malformed descriptors: %d trailing bytes", len(b)-d.Off)
	}
	return out, nil
}

// AppendModuleRequest appends the input of metric_init / metric_cleanup:
// str module, list<pair> params.
func AppendModuleRequest(dst []byte, module string, keys, values []string) []byte {
	dst = wire.AppendString(dst, module)
	return wire.AppendConfig(dst, keys, values)
}

// DecodeModuleRequest decodes AppendModuleRequest's encoding (strings copied).
func DecodeModuleRequest(b []byte) (string, map[string]string, error) {
	d := wire.Decoder{B: b}
	name := wire.Clone(d.String())
	if d.Err != nil {
		return "", nil, fmt.Errorf("malformed module request: %w", d.Err)
	}
	cfg, err := wire.DecodeConfig(b[d.Off:])
	return name, cfg, err
}

// AppendValuesRequest appends the input of metric_values: str module,
// list<u32> metric indexes (into the module's descriptors).
func AppendValuesRequest(dst []byte, module string, idx []uint32) []byte {
	dst = wire.AppendString(dst, module)
	dst = wire.AppendU32(dst, uint32(len(idx)))
	for _, i := range idx {
		dst = wire.AppendU32(dst, i)
	}
	return dst
}

// DecodeValuesRequest decodes AppendValuesRequest's encoding; the module
// name aliases b.
func DecodeValuesRequest(b []byte) (string, []uint32, error) {
	d := wire.Decoder{B: b}
	name := d.String()
	n := d.Count(4)
	idx := make([]uint32, 0, n)
	for i := 0; i < n && d.Err == nil; i++ {
		idx = append(idx, d.U32())
	}
	if d.Err != nil {
		return "", nil, fmt.Errorf("malformed values request: %w", d.Err)
	}
	return name, idx, nil
}

// Kinds of a collected value.
const (
	ValueMissing uint8 = iota // str reason: the callback failed or has nothing now
	ValueNumber               // f64
	ValueText                 // str
)

// MetricValue is one collected value.
type MetricValue struct {
	Kind   uint8
	Number float64
	Text   string // text, or the reason for a missing value
}

// Values is the payload of a metric_values result: one value per requested
// index, in order, then raw lines for the daemon's access-log pipes.
type Values struct {
	Values []MetricValue
	// Forward are raw access-log lines (the accesslog module) that the
	// agent pushes as the /push form field accesslog.
	Forward []string
}

// MaxForwardBytes bounds the raw lines one metric_values result may carry.
const MaxForwardBytes = 8 << 20

// AppendValues appends a Values payload.
func AppendValues(dst []byte, v *Values) []byte {
	dst = wire.AppendU32(dst, uint32(len(v.Values)))
	for _, x := range v.Values {
		dst = append(dst, x.Kind)
		switch x.Kind {
		case ValueNumber:
			dst = wire.AppendF64(dst, x.Number)
		default:
			dst = wire.AppendString(dst, x.Text)
		}
	}
	dst = wire.AppendU32(dst, uint32(len(v.Forward)))
	for _, l := range v.Forward {
		dst = wire.AppendString(dst, l)
	}
	return dst
}

// DecodeValues decodes a Values payload, expecting want values (strings
// copied). Non-finite numbers are errors.
func DecodeValues(b []byte, want int) (*Values, error) {
	d := wire.Decoder{B: b}
	n := d.Count(5)
	if d.Err == nil && n != want {
		return nil, fmt.Errorf("module returned %d values for %d metrics", n, want)
	}
	v := &Values{Values: make([]MetricValue, 0, n)}
	for i := 0; i < n && d.Err == nil; i++ {
		x := MetricValue{Kind: d.U8()}
		switch x.Kind {
		case ValueNumber:
			x.Number = d.F64()
			if d.Err == nil && (math.IsNaN(x.Number) || math.IsInf(x.Number, 0)) {
				return nil, fmt.Errorf("value %d is not finite", i)
			}
		case ValueText, ValueMissing:
			x.Text = wire.Clone(d.String())
			if len(x.Text) > wire.MaxMarkerBytes {
				return nil, fmt.Errorf("value %d: text of %d bytes (max %d)", i, len(x.Text), wire.MaxMarkerBytes)
			}
		default:
			if d.Err == nil {
				return nil, fmt.Errorf("value %d: unknown kind %d", i, x.Kind)
			}
		}
		v.Values = append(v.Values, x)
	}
	m := d.Count(4)
	total := 0
	for i := 0; i < m && d.Err == nil; i++ {
		l := wire.Clone(d.String())
		total += len(l)
		if total > MaxForwardBytes {
			return nil, fmt.Errorf("forwarded lines exceed %d bytes", MaxForwardBytes)
		}
		v.Forward = append(v.Forward, l)
	}
	if d.Err != nil {
		return nil, fmt.Errorf("malformed values: %w", d.Err)
	}
	if d.Off != len(b) {
		return nil, fmt.Errorf("malformed values: %d trailing bytes", len(b)-d.Off)
	}
	return v, nil
}

// HTTPResponse is what http_get hands a module.
type HTTPResponse struct {
	Status  uint32 // 0 when the request failed
	TTFBNs  int64  // time to the first response byte
	TotalNs int64  // time to the end of the body
	Bytes   int64  // body bytes read
	Body    []byte // at most MaxHTTPBody bytes of it
	Err     string
}

// MaxHTTPBody bounds the body handed to a module.
const MaxHTTPBody = 1 << 20

// AppendHTTPResponse appends the encoding of r.
func AppendHTTPResponse(dst []byte, r *HTTPResponse) []byte {
	dst = wire.AppendU32(dst, r.Status)
	dst = wire.AppendI64(dst, r.TTFBNs)
	dst = wire.AppendI64(dst, r.TotalNs)
	dst = wire.AppendI64(dst, r.Bytes)
	dst = wire.AppendU32(dst, uint32(len(r.Body)))
	dst = append(dst, r.Body...)
	return wire.AppendString(dst, r.Err)
}

// DecodeHTTPResponse decodes AppendHTTPResponse's encoding; Body aliases b.
func DecodeHTTPResponse(b []byte) (*HTTPResponse, error) {
	d := wire.Decoder{B: b}
	r := &HTTPResponse{Status: d.U32(), TTFBNs: d.I64(), TotalNs: d.I64(), Bytes: d.I64()}
	body := d.String()
	r.Body = []byte(body)
	r.Err = d.String()
	if d.Err != nil {
		return nil, fmt.Errorf("malformed http response: %w", d.Err)
	}
	return r, nil
}

// ErrNotGranted is the text a host call answers when the module's config
// does not grant the URL or file.
var ErrNotGranted = errors.New("not granted by the module's config")

// MetricPathSep splits a metric name into deeper tree levels: metric
// "eth0/rx_bytes" of module net lands at net,<host>,eth0,rx_bytes.
const MetricPathSep = "/"

func checkMetricName(n string) error {
	if n == "" || len(n) > wire.MaxSegmentBytes {
		return fmt.Errorf("bad metric name of %d bytes", len(n))
	}
	segs := 1
	start := 0
	for i := 0; i <= len(n); i++ {
		if i == len(n) || n[i] == '/' {
			if i == start {
				return fmt.Errorf("metric name %q has an empty level", n)
			}
			start = i + 1
			if i < len(n) {
				segs++
			}
		}
	}
	if segs > wire.MaxPathSegments-2 {
		return fmt.Errorf("metric name %q has too many levels", n)
	}
	return nil
}

// Statfs is what the statfs host call answers.
type Statfs struct {
	TotalBytes, FreeBytes, AvailBytes uint64
	Inodes, FreeInodes                uint64
}
