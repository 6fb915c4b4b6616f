package wire

import (
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	b := AppendPath(AppendF64(AppendI64(AppendU32(AppendString(nil, "héllo"), 7), -3), 2.5), "a", "bc")
	d := Decoder{B: b}
	got := []any{d.String(), d.U32(), d.I64(), d.F64(), d.Path(nil)}
	want := []any{"héllo", uint32(7), int64(-3), 2.5, []string{"a", "bc"}}
	if d.Err != nil || d.Off != len(b) || !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %v (err %v, %d of %d bytes), want %v", got, d.Err, d.Off, len(b), want)
	}
	if d.U8(); !errors.Is(d.Err, ErrShort) {
		t.Fatalf("read past the end: err %v, want ErrShort", d.Err)
	}
}

func TestCheckStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		rest  string
		notOK bool
		err   bool
	}{
		{name: "ok", in: append(AppendOK(nil), "xy"...), rest: "xy"},
		{name: "error", in: AppendError(nil, "boom"), notOK: true, err: true},
		{name: "empty", in: nil, err: true},
		{name: "bad status", in: []byte{9}, err: true},
		{name: "truncated error", in: []byte{StatusError, 5, 0, 0, 0, 'a'}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rest, err := CheckStatus(tc.in)
			if (err != nil) != tc.err || errors.Is(err, ErrNotOK) != tc.notOK || string(rest) != tc.rest {
				t.Fatalf("CheckStatus = %q, %v; want %q, error %v (ErrNotOK %v)", rest, err, tc.rest, tc.err, tc.notOK)
			}
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	got, err := DecodeConfig(AppendConfig(nil, []string{"a", "b"}, []string{"1", ""}))
	if want := map[string]string{"a": "1", "b": ""}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeConfig = %v, %v; want %v", got, err, want)
	}
}

// FuzzDecode: no input makes the decoder or the result and config readers
// panic or claim more than the buffer holds.
func FuzzDecode(f *testing.F) {
	f.Add(AppendConfig(nil, []string{"k"}, []string{"v"}))
	f.Add(AppendError(nil, "boom"))
	f.Add(AppendPath(nil, "a", "b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		CheckStatus(b)
		DecodeConfig(b)
		d := Decoder{B: b}
		for d.Err == nil && d.Off < len(b) {
			d.Path(nil)
			d.Count(1)
			_ = d.String()
		}
		if d.Off > len(b) {
			t.Fatalf("offset %d past %d bytes", d.Off, len(b))
		}
	})
}
