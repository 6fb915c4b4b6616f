package host

import (
	"context"
	"reflect"
	"testing"

	"github.com/tetratelabs/wazero"
)

// TestDropCodeBodies: the bodies are found and freed, and the module still
// instantiates and runs.
func TestDropCodeBodies(t *testing.T) {
	ctx := context.Background()
	// (module (func (export "add") (param i32 i32) (result i32)
	//   local.get 0 local.get 1 i32.add))
	wasm := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
		0x03, 0x02, 0x01, 0x00,
		0x07, 0x07, 0x01, 0x03, 'a', 'd', 'd', 0x00, 0x00,
		0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if !dropCodeBodies(cm) {
		t.Fatal("dropCodeBodies did not find the bodies: has wazero's compiledModule layout changed?")
	}
	code := reflect.ValueOf(cm).Elem().FieldByName("module").Elem().FieldByName("CodeSection")
	if n := code.Index(0).FieldByName("Body").Len(); n != 0 {
		t.Fatalf("body still %d bytes", n)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig())
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction("add").Call(ctx, 2, 3)
	if err != nil || res[0] != 5 {
		t.Fatalf("add(2, 3) = %v, %v; want 5", res, err)
	}
}
