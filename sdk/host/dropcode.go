package host

import (
	"reflect"
	"unsafe"

	"github.com/tetratelabs/wazero"
)

// dropCodeBodies frees the WebAssembly function bodies wazero keeps in a
// compiled module (CompiledModule → *wasm.Module → CodeSection[i].Body):
// ≈2 MB of Go heap for a Go guest. With the compiler they are read only
// while compiling; instances run the machine code and keep no reference
// to the bodies. wazero has no API for this, so the fields are found by
// reflection (wazero v1.12): if its layout differs, nothing is touched and
// dropCodeBodies reports false (TestDropCodeBodies catches an upgrade that
// moves them).
func dropCodeBodies(cm wazero.CompiledModule) bool {
	v := reflect.ValueOf(cm)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	m := v.Elem().FieldByName("module")
	if !m.IsValid() || m.Kind() != reflect.Pointer || m.IsNil() || m.Elem().Kind() != reflect.Struct {
		return false
	}
	code := m.Elem().FieldByName("CodeSection")
	if !code.IsValid() || code.Kind() != reflect.Slice || code.Type().Elem().Kind() != reflect.Struct {
		return false
	}
	body, ok := code.Type().Elem().FieldByName("Body")
	if !ok || body.Type != reflect.TypeFor[[]byte]() {
		return false
	}
	for i := range code.Len() {
		b := code.Index(i).FieldByIndex(body.Index)
		*(*[]byte)(unsafe.Pointer(b.UnsafeAddr())) = nil
	}
	return true
}
