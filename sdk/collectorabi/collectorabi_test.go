package collectorabi

import (
	"math"
	"reflect"
	"testing"
)

func TestCollectorRoundTrip(t *testing.T) {
	ds := []Descriptor{{Name: "user", ValueType: TypeFloat, Units: "%", Slope: SlopeBoth, TimeMax: 60, Format: "%.1f", Groups: "cpu", Description: "d"},
		{Name: "eth0/rx_bytes", ValueType: TypeDouble, Slope: SlopePositive}}
	got, err := DecodeDescriptors(AppendDescriptors(nil, ds))
	if err != nil || !reflect.DeepEqual(got, ds) {
		t.Fatalf("descriptors = %+v, %v", got, err)
	}
	v := &Values{Values: []MetricValue{{Kind: ValueNumber, Number: 3.5}, {Kind: ValueText, Text: "up"}, {Kind: ValueMissing, Text: "no"}},
		Forward: []string{"a line"}}
	gv, err := DecodeValues(AppendValues(nil, v), 3)
	if err != nil || !reflect.DeepEqual(gv, v) {
		t.Fatalf("values = %+v, %v", gv, err)
	}
	if _, err := DecodeValues(AppendValues(nil, v), 2); err == nil {
		t.Errorf("a wrong value count decoded")
	}
	nan := &Values{Values: []MetricValue{{Kind: ValueNumber, Number: math.Inf(1)}}}
	if _, err := DecodeValues(AppendValues(nil, nan), 1); err == nil {
		t.Errorf("an infinite value decoded")
	}
	for _, bad := range []string{"", "a//b", "/a", "a/"} {
		if _, err := DecodeDescriptors(AppendDescriptors(nil, []Descriptor{{Name: bad}})); err == nil {
			t.Errorf("metric name %q accepted", bad)
		}
	}
	dup := []Descriptor{{Name: "a"}, {Name: "a"}}
	if _, err := DecodeDescriptors(AppendDescriptors(nil, dup)); err == nil {
		t.Errorf("a duplicate metric accepted")
	}
	r := &HTTPResponse{Status: 200, TTFBNs: 5, TotalNs: 9, Bytes: 3, Body: []byte("abc")}
	gr, err := DecodeHTTPResponse(AppendHTTPResponse(nil, r))
	if err != nil || !reflect.DeepEqual(gr, r) {
		t.Errorf("http response = %+v, %v", gr, err)
	}
}

// Guest output is untrusted: decoding never panics and never accepts
// something that does not encode back the same way.
func FuzzDecodeCollector(f *testing.F) {
	f.Add(AppendDescriptors(nil, []Descriptor{{Name: "x", ValueType: TypeUint}}), 1)
	f.Add(AppendValues(nil, &Values{Values: []MetricValue{{Kind: ValueNumber, Number: 1}}, Forward: []string{"l"}}), 1)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if ds, err := DecodeDescriptors(b); err == nil {
			if again := AppendDescriptors(nil, ds); string(again) != string(b) {
				t.Fatalf("descriptors do not round-trip")
			}
		}
		if n < 0 || n > 1<<16 {
			return
		}
		if v, err := DecodeValues(b, n); err == nil {
			if len(v.Values) != n {
				t.Fatalf("got %d values, want %d", len(v.Values), n)
			}
		}
		DecodeHTTPResponse(b)
		DecodeValuesRequest(b)
		DecodeModuleRequest(b)
	})
}
