package pipeabi

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/sdk/wire"
)

func testManifest() *Manifest {
	return &Manifest{
		Name: "t", Version: "1",
		Fields: []string{FieldStatus, FieldPath, FieldUpstream, FieldUA, "var:http_x_forwarded_for", FieldUABrowser},
		Roots: []Root{
			{Path: []string{"status"}, Action: ActionAdd},
			{Path: []string{"status", "avg"}, Action: ActionAverage},
		},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := testManifest()
	got, err := DecodeManifest(AppendManifest(nil, m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("got %+v, want %+v", got, m)
	}
	if i := got.RootFor([]string{"status", "avg", "x"}); i != 1 {
		t.Errorf("RootFor(status,avg,x) = %d, want 1", i)
	}
	if i := got.RootFor([]string{"other"}); i != -1 {
		t.Errorf("RootFor(other) = %d, want -1", i)
	}
}

func TestManifestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Manifest
		want string
	}{
		{"no name", Manifest{Roots: []Root{{Path: []string{"a"}}}}, "empty name"},
		{"no roots", Manifest{Name: "x"}, "no tree roots"},
		{"bad field", Manifest{Name: "x", Fields: []string{"nope"}, Roots: []Root{{Path: []string{"a"}}}}, "unknown record field"},
		{"twice", Manifest{Name: "x", Fields: []string{"path", "path"}, Roots: []Root{{Path: []string{"a"}}}}, "listed twice"},
		{"empty seg", Manifest{Name: "x", Roots: []Root{{Path: []string{"a", ""}}}}, "empty segment"},
		{"bad action", Manifest{Name: "x", Roots: []Root{{Path: []string{"a"}, Action: 9}}}, "unknown action"},
	} {
		_, err := DecodeManifest(AppendManifest(nil, &tc.m))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := DecodeManifest([]byte{1, 2}); err == nil {
		t.Errorf("truncated manifest decoded")
	}
	ok := Manifest{Name: "x", Roots: []Root{{Path: []string{"a"}}}}
	if _, err := DecodeManifest(append(AppendManifest(nil, &ok), 2)); err == nil || !strings.Contains(err.Error(), "unknown flags") {
		t.Errorf("manifest with unknown flag bits: err %v", err)
	}
}

// TestManifestSerial checks the optional flags byte: absent when Serial is
// false (older manifests unchanged), round-trips when set.
func TestManifestSerial(t *testing.T) {
	m := testManifest()
	plain := AppendManifest(nil, m)
	m.Serial = true
	serial := AppendManifest(nil, m)
	if len(serial) != len(plain)+1 || serial[len(serial)-1] != 1 {
		t.Fatalf("serial manifest is %d bytes ending %d; plain %d", len(serial), serial[len(serial)-1], len(plain))
	}
	got, err := DecodeManifest(serial)
	if err != nil || !got.Serial {
		t.Errorf("decoded %+v, %v; want Serial", got, err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	all := []string{FieldTime, FieldStatus, FieldBytes, FieldRequestTime, FieldUpstream, FieldMethod,
		FieldPath, FieldQuery, FieldProtocol, FieldUserAgent, FieldReferer, FieldRemoteAddr, FieldHost,
		FieldUA, FieldUABrowser, FieldUABrowserMajor, FieldUAOS, FieldUAOSVersion, FieldUAVendor, FieldUABot,
		"var:x", "var:y"}
	l, err := NewLayout(all)
	if err != nil {
		t.Fatal(err)
	}
	in := Record{Time: 1700000000123456789, Status: 404, Bytes: 1234, RequestTime: 0.25,
		UpstreamTimes: []float64{0.01, math.NaN()}, Method: "GET", Path: "/a", Query: "b=1",
		Protocol: "HTTP/1.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", Referer: "r",
		RemoteAddr: "10.0.0.1", Host: "h", Vars: []Var{{"y", "why"}, {"x", "ex"}},
		Agent: Agent{"firefox", "120", "linux", "", "", ""}}
	recs := []Record{{Status: 200, Path: "/other"}, in}
	b := l.AppendBatch(nil, recs)
	var batch Batch
	if err := l.DecodeBatch(b, &batch); err != nil {
		t.Fatal(err)
	}
	if batch.Len() != 2 {
		t.Fatalf("count %d", batch.Len())
	}
	var out Record
	for i := range 2 {
		if err := batch.Record(i, &out); err != nil {
			t.Fatal(err)
		}
	}
	if out.Time != in.Time || out.Status != 404 || out.Bytes != 1234 || out.RequestTime != 0.25 ||
		out.Method != "GET" || out.Path != "/a" || out.Query != "b=1" || out.Host != "h" || out.Agent != in.Agent {
		t.Errorf("scalars: got %+v", out)
	}
	if len(out.UpstreamTimes) != 2 || out.UpstreamTimes[0] != 0.01 || !math.IsNaN(out.UpstreamTimes[1]) {
		t.Errorf("upstream: %v", out.UpstreamTimes)
	}
	if v, _ := out.UA.Product("Firefox"); v != "120.0" {
		t.Errorf("UA product Firefox = %q; UA %+v", v, out.UA)
	}
	if out.Var("x") != "ex" || out.Var("y") != "why" {
		t.Errorf("vars %+v", out.Vars)
	}
	// The column views agree with the rows.
	if got := batch.Int64s(FieldStatus); !reflect.DeepEqual(got, []int64{200, 404}) {
		t.Errorf("status column %v", got)
	}
	if p := batch.Strings(FieldPath); p.Len() != 2 || p.At(0) != "/other" || p.At(1) != "/a" {
		t.Errorf("path column %d values: %q %q", p.Len(), p.At(0), p.At(1))
	}
	if u := batch.Float64Lists(FieldUpstream); len(u.At(0)) != 0 || len(u.At(1)) != 2 {
		t.Errorf("upstream column: %v %v", u.At(0), u.At(1))
	}
	if v := batch.Strings("var:y"); v.At(1) != "why" || v.At(0) != "" {
		t.Errorf("var:y column: %q %q", v.At(0), v.At(1))
	}
}

// TestBatchColumnsAligned checks that every column starts 8-byte aligned
// from the batch start and that a misaligned buffer decodes the same (by
// copying instead of viewing in place).
func TestBatchColumnsAligned(t *testing.T) {
	l, err := NewLayout([]string{FieldMethod, FieldStatus, FieldUpstream, FieldRequestTime})
	if err != nil {
		t.Fatal(err)
	}
	recs := []Record{
		{Method: "GET", Status: 200, UpstreamTimes: []float64{0.5}, RequestTime: 1.5},
		{Method: "POST", Status: 502, RequestTime: 0.25},
		{Method: "PUT", Status: 201, UpstreamTimes: []float64{0.1, 0.2}, RequestTime: math.NaN()},
	}
	b := l.AppendBatch(nil, recs)
	shifted := append(make([]byte, 1, len(b)+1), b...)[1:]
	for name, in := range map[string][]byte{"aligned": b, "misaligned": shifted} {
		var batch Batch
		if err := l.DecodeBatch(in, &batch); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st, rt, up := batch.Int64s(FieldStatus), batch.Float64s(FieldRequestTime), batch.Float64Lists(FieldUpstream)
		if !reflect.DeepEqual(st, []int64{200, 502, 201}) || rt[0] != 1.5 || rt[1] != 0.25 || !math.IsNaN(rt[2]) ||
			!reflect.DeepEqual(up.At(2), []float64{0.1, 0.2}) || batch.Strings(FieldMethod).At(1) != "POST" {
			t.Errorf("%s: status %v, request_time %v, upstream %v", name, st, rt, up.At(2))
		}
	}
}

func TestBatchMalformed(t *testing.T) {
	l, err := NewLayout([]string{FieldStatus, FieldPath})
	if err != nil {
		t.Fatal(err)
	}
	good := l.AppendBatch(nil, []Record{{Status: 200, Path: "/a"}, {Status: 404, Path: "/bb"}})
	badOffset := slices.Clone(good)
	badOffset[4+4+16+4] = 9 // the path column's second offset points past the data
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "want at least a 4-byte count"},
		{"huge count", []byte{0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0}, "cannot fit"},
		{"truncated", good[:len(good)-1], "column 1 (path)"},
		{"trailing", append(slices.Clone(good), 0), "1 trailing bytes"},
		{"bad offset", badOffset, "column 1 (path)"},
	} {
		var batch Batch
		err := l.DecodeBatch(tc.in, &batch)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	var batch Batch
	if err := l.DecodeBatch(good, &batch); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), `field "bytes"`) {
			t.Errorf("reading an unlisted field: recover() = %v", v)
		}
	}()
	batch.Int64s(FieldBytes)
}

func TestTokenizeUA(t *testing.T) {
	for _, tc := range []struct {
		ua       string
		products string
		comments string
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
			"Mozilla/5.0 AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36", "Windows NT 10.0|Win64|x64|KHTML, like Gecko"},
		{"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; Trident/4.0; SE 2.X MetaSr 1.0)",
			"Mozilla/4.0", "compatible|MSIE 7.0|Windows NT 5.1|Trident/4.0|SE 2.X MetaSr 1.0"},
		{"curl/8.5.0", "curl/8.5.0", ""},
		{"Mobile (a (b; c); d", "Mobile/", "a (b; c)|d"},
		{"", "", ""},
		{"((((", "", "(((" /* unclosed: the rest is one comment */},
	} {
		u := TokenizeUA(UA{}, tc.ua)
		var ps, cs []string
		for _, p := range u.Products {
			ps = append(ps, p.Name+"/"+p.Version)
		}
		cs = u.Comments
		if got := strings.Join(ps, " "); got != tc.products {
			t.Errorf("%q products: got %q, want %q", tc.ua, got, tc.products)
		}
		if got := strings.Join(cs, "|"); got != tc.comments {
			t.Errorf("%q comments: got %q, want %q", tc.ua, got, tc.comments)
		}
	}
}

func deltaBatch(f func(b []byte) []byte) []byte {
	return f(wire.AppendOK(nil))
}

func TestDecodeDeltas(t *testing.T) {
	m := testManifest()
	good := deltaBatch(func(b []byte) []byte {
		b = AppendDeltaCount(b, 2)
		b = AppendNumber(b, wire.AppendPath(nil, "status", "200"), 3, 3)
		return AppendMarker(b, wire.AppendPath(nil, "status", "note"), "deploy")
	})
	ds, err := DecodeDeltas(nil, good, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []Delta{{Path: []string{"status", "200"}, Value: 3, Count: 3},
		{Path: []string{"status", "note"}, Marker: "deploy", IsMarker: true}}
	if !reflect.DeepEqual(ds, want) {
		t.Errorf("got %+v, want %+v", ds, want)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"error result", wire.AppendError(nil, "boom"), "boom"},
		{"bad status", []byte{7}, "status byte"},
		{"outside roots", deltaBatch(func(b []byte) []byte {
			return AppendNumber(AppendDeltaCount(b, 1), wire.AppendPath(nil, "x"), 1, 1)
		}), "outside"},
		{"nan", deltaBatch(func(b []byte) []byte {
			return AppendNumber(AppendDeltaCount(b, 1), wire.AppendPath(nil, "status"), math.NaN(), 1)
		}), "finite"},
		{"zero count", deltaBatch(func(b []byte) []byte {
			return AppendNumber(AppendDeltaCount(b, 1), wire.AppendPath(nil, "status"), 1, 0)
		}), "count 0"},
		{"empty segment", deltaBatch(func(b []byte) []byte {
			return AppendNumber(AppendDeltaCount(b, 1), wire.AppendPath(nil, "status", ""), 1, 1)
		}), "empty segment"},
		{"trailing", append(good, 0), "trailing"},
		{"huge count", deltaBatch(func(b []byte) []byte { return AppendDeltaCount(b, 1<<30) }), "ends inside"},
		{"bad kind", deltaBatch(func(b []byte) []byte {
			b = append(AppendDeltaCount(b, 1), 9)
			return wire.AppendPath(b, "status")
		}), "unknown kind"},
	} {
		_, err := DecodeDeltas(nil, tc.b, m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzDecodeDeltas(f *testing.F) {
	m := testManifest()
	f.Add(deltaBatch(func(b []byte) []byte {
		b = AppendDeltaCount(b, 1)
		return AppendNumber(b, wire.AppendPath(nil, "status", "200"), 3, 3)
	}))
	f.Add([]byte{0, 1, 0, 0, 0, 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := DecodeDeltas(nil, b, m)
		if err != nil {
			return
		}
		for _, d := range ds {
			if m.RootFor(d.Path) < 0 {
				t.Fatalf("accepted path %q outside roots", d.Path)
			}
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add(AppendManifest(nil, testManifest()))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded an invalid manifest: %v", err)
		}
	})
}

func FuzzTokenizeUA(f *testing.F) {
	f.Add("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0")
	f.Fuzz(func(t *testing.T, s string) {
		u := TokenizeUA(UA{}, s)
		if len(u.Products) > MaxUAProducts || len(u.Comments) > MaxUAComments {
			t.Fatalf("too many tokens: %d, %d", len(u.Products), len(u.Comments))
		}
	})
}

// TestBatchReadmeExample is the byte-level example of README.md's "Record
// batch" section.
func TestBatchReadmeExample(t *testing.T) {
	l, err := NewLayout([]string{FieldStatus, FieldPath})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%x", l.AppendBatch(nil, []Record{{Status: 200, Path: "/a"}, {Status: 404, Path: "/bb"}}))
	want := "02000000" + "00000000" + "c800000000000000" + "9401000000000000" + "00000000" + "01000000" + "02000000" + "00000000" + "02000000" + "05000000" + "2f612f6262"
	if got != want {
		t.Errorf("batch\n got %s\nwant %s", got, want)
	}
}

// FuzzDecodeBatch: any bytes either decode as a batch whose every record
// and column can be read, or are refused; nothing panics. Valid batches
// from the encoder are seeds.
func FuzzDecodeBatch(f *testing.F) {
	fields := []string{FieldStatus, FieldPath, FieldUpstream, FieldRequestTime, FieldUA, "var:x"}
	l, err := NewLayout(fields)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(l.AppendBatch(nil, []Record{
		{Status: 200, Path: "/a", UpstreamTimes: []float64{0.1}, RequestTime: 0.2, UserAgent: "Mozilla/5.0 (X11) Firefox/1"},
		{Status: 404, Path: "/a", Vars: []Var{{"x", "y"}}},
	}))
	f.Add(l.AppendBatch(nil, nil))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var b Batch
		if err := l.DecodeBatch(in, &b); err != nil {
			return
		}
		var r Record
		for i := range b.Len() {
			b.Record(i, &r) // a malformed ua value is an error, not a panic
		}
		paths, ups := b.Strings(FieldPath), b.Float64Lists(FieldUpstream)
		for i := range b.Len() {
			_ = paths.At(i)
			_ = ups.At(i)
		}
		for d := range paths.Distinct() {
			_ = paths.Value(d)
		}
		if n := len(b.Int64s(FieldStatus)) + len(b.Float64s(FieldRequestTime)); n != 2*b.Len() {
			t.Fatalf("columns hold %d values for %d records", n, b.Len())
		}
	})
}

// TestColumnsSameBytes: batches assembled from shared columns are the bytes
// Encoder.AppendBatch writes, for layouts sharing fields in other orders
// (so a column lands at other offsets), across Resets, after a prefix.
func TestColumnsSameBytes(t *testing.T) {
	layouts := [][]string{
		{FieldStatus, FieldPath},
		{FieldMethod, FieldUpstream, FieldPath, FieldStatus},
		{FieldUA, FieldRequestTime, "var:x", FieldUpstream, FieldPathHash},
		{"var:x", FieldMethod, FieldUAClassHash, FieldUAClass, FieldUA},
	}
	sets := [][]Record{
		{{Status: 200, Path: "/a", Method: "GET", UpstreamTimes: []float64{0.5}, RequestTime: 1,
			UserAgent: "curl/8 (x; y)", Vars: []Var{{"x", "1"}}, AgentClass: "||||curl"}},
		{{Status: 404, Path: "/bb", Method: "POST", RequestTime: math.NaN()},
			{Status: 502, Path: "/a", UpstreamTimes: []float64{0.1, 0.2, 0.3}, UserAgent: "Mozilla/5.0 (X11)", Vars: []Var{{"x", "22"}}},
			{Status: 200, Path: "/bb", Method: "GET"}},
	}
	var cols Columns
	for si, recs := range sets {
		cols.Reset(recs)
		for li, fields := range layouts {
			l, err := NewLayout(fields)
			if err != nil {
				t.Fatal(err)
			}
			want := l.AppendBatch([]byte("pfx"), slices.Clone(recs))
			got := cols.AppendBatch([]byte("pfx"), l)
			if !bytes.Equal(got, want) {
				t.Errorf("set %d layout %d: columns give\n%x\nwant\n%x", si, li, got, want)
			}
		}
	}
}
