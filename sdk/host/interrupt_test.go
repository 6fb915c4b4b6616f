package host

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Opcodes the hand-written bodies below use.
const (
	opNop      = 0x01
	opBlock    = 0x02
	opLoop     = 0x03
	opIf       = 0x04
	opEnd      = 0x0B
	opBr       = 0x0C
	opBrIf     = 0x0D
	opBrTable  = 0x0E
	opCall     = 0x10
	opDrop     = 0x1A
	opLocalGet = 0x20
	opLocalSet = 0x21
	opI32Const = 0x41
	opI32Sub   = 0x6B
	void       = 0x40
	i32        = 0x7F
)

// code is a function body without locals.
func code(ops ...byte) []byte { return append([]byte{0x00}, ops...) }

// TestRewrite: where the checks go, with a nop standing for the check.
func TestRewrite(t *testing.T) {
	const c = opNop
	for _, tc := range []struct {
		name     string
		in, want []byte
		err      string
	}{
		{name: "br to a loop",
			in:   code(opLoop, void, opBr, 0, opEnd, opEnd),
			want: code(opLoop, void, c, opBr, 0, opEnd, opEnd)},
		{name: "br to a block",
			in:   code(opBlock, void, opBr, 0, opEnd, opEnd),
			want: code(opBlock, void, opBr, 0, opEnd, opEnd)},
		{name: "br_if to a loop",
			in:   code(opLoop, void, opI32Const, 1, opBrIf, 0, opEnd, opEnd),
			want: code(opLoop, void, opI32Const, 1, opIf, void, c, opBr, 1, opEnd, opEnd, opEnd)},
		{name: "br_if to a loop with a result",
			in:   code(opLoop, i32, opI32Const, 1, opBrIf, 0, opI32Const, 0, opEnd, opDrop, opEnd),
			want: code(opLoop, i32, opI32Const, 1, opIf, void, c, opBr, 1, opEnd, opI32Const, 0, opEnd, opDrop, opEnd)},
		{name: "br_if to a loop with parameters: the check at its header",
			in:   code(opI32Const, 5, opLoop, 2, opI32Const, 1, opBrIf, 0, opEnd, opDrop, opEnd),
			want: code(opI32Const, 5, opLoop, 2, c, opI32Const, 1, opBrIf, 0, opEnd, opDrop, opEnd)},
		{name: "br_table to a loop: the check at its header",
			in:   code(opLoop, void, opBlock, void, opI32Const, 0, opBrTable, 1, 0, 1, opEnd, opEnd, opEnd),
			want: code(opLoop, void, c, opBlock, void, opI32Const, 0, opBrTable, 1, 0, 1, opEnd, opEnd, opEnd)},
		{name: "nested blocks",
			in: code(opLoop, void, opBlock, void, opI32Const, 1, opBrIf, 1, opBr, 0, opEnd, opBr, 0, opEnd, opEnd),
			want: code(opLoop, void, opBlock, void, opI32Const, 1, opIf, void, c, opBr, 2, opEnd, opBr, 0, opEnd,
				c, opBr, 0, opEnd, opEnd)},
		{name: "Go dispatch loop: a jump forward goes free, one back is checked",
			in: code(opLoop, void, opBlock, void, opBlock, void, opLocalGet, 0, opBrTable, 1, 0, 1, opEnd,
				opI32Const, 1, opLocalSet, 0, opBr, 1, opEnd,
				opI32Const, 0, opLocalSet, 0, opBr, 0, opEnd, opEnd),
			want: code(opLoop, void, opBlock, void, opBlock, void, opLocalGet, 0, opBrTable, 1, 0, 1, opEnd,
				opI32Const, 1, opLocalSet, 0, opBr, 1, opEnd,
				opI32Const, 0, opLocalSet, 0, c, opBr, 0, opEnd, opEnd)},
		{name: "Go dispatch loop: a jump that sets another local is checked",
			in: []byte{1, 1, i32, opLoop, void, opBlock, void, opBlock, void, opLocalGet, 0, opBrTable, 1, 0, 1, opEnd,
				opI32Const, 1, opLocalSet, 1, opBr, 1, opEnd, opEnd, opEnd},
			want: []byte{1, 1, i32, opLoop, void, opBlock, void, opBlock, void, opLocalGet, 0, opBrTable, 1, 0, 1, opEnd,
				opI32Const, 1, opLocalSet, 1, c, opBr, 1, opEnd, opEnd, opEnd}},
		{name: "a call: the check at the entry",
			in:   code(opCall, 0, opEnd),
			want: code(c, opCall, 0, opEnd)},
		{name: "a call and a loop header",
			in:   code(opLoop, void, opBlock, void, opI32Const, 0, opBrTable, 0, 1, opEnd, opEnd, opCall, 0, opEnd),
			want: code(c, opLoop, void, c, opBlock, void, opI32Const, 0, opBrTable, 0, 1, opEnd, opEnd, opCall, 0, opEnd)},
		{name: "branch out of range", in: code(opBr, 5, opEnd), err: "branch depth 5 with 1 blocks open"},
		{name: "block left open", in: code(opBlock, void, opEnd), err: "1 blocks left open"},
		{name: "code after the end", in: code(opEnd, opNop), err: "after the body's end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rw := bodyRewriter{check: []byte{c}}
			got, err := rw.rewrite(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("rewritten\n% x\nwant\n% x", got, tc.want)
			}
		})
	}
}

// TestSpinningIsInterrupted: each way to spin still passes a check, so an
// instrumented module validates and traps once the interrupt global is set.
func TestSpinningIsInterrupted(t *testing.T) {
	ctx := context.Background()
	funcs := []struct {
		name string
		typ  byte // 0: () → (), 1: (i32) → ()
		body []byte
	}{
		{"br", 0, code(opLoop, void, opBr, 0, opEnd, opEnd)},
		{"br_if", 0, code(opLoop, void, opI32Const, 1, opBrIf, 0, opEnd, opEnd)},
		{"br_table", 0, code(opLoop, void, opBlock, void, opI32Const, 0, opBrTable, 0, 1, opEnd, opEnd, opEnd)},
		{"params", 0, code(opI32Const, 5, opLoop, 2, opI32Const, 1, opBrIf, 0, opEnd, opDrop, opEnd)},
		{"dispatch", 1, code(opLoop, void, opBlock, void, opBlock, void, opLocalGet, 0, opBrTable, 1, 0, 1, opEnd,
			opI32Const, 1, opLocalSet, 0, opBr, 1, opEnd,
			opI32Const, 0, opLocalSet, 0, opBr, 0, opEnd, opEnd)},
		// 2^n calls, no loop: f(n) { if n { f(n-1); f(n-1) } }
		{"recursion", 1, code(opLocalGet, 0, opIf, void,
			opLocalGet, 0, opI32Const, 1, opI32Sub, opCall, 5,
			opLocalGet, 0, opI32Const, 1, opI32Sub, opCall, 5, opEnd, opEnd)},
	}
	types := []byte{3, 0x60, 0, 0, 0x60, 1, i32, 0, 0x60, 1, i32, 1, i32}
	fsec := appendU32(nil, uint32(len(funcs)))
	esec := appendU32(nil, uint32(len(funcs)))
	csec := appendU32(nil, uint32(len(funcs)))
	for i, f := range funcs {
		fsec = append(fsec, f.typ)
		esec = appendU32(esec, uint32(len(f.name)))
		esec = append(append(esec, f.name...), 0x00)
		esec = appendU32(esec, uint32(i))
		csec = appendU32(csec, uint32(len(f.body)))
		csec = append(csec, f.body...)
	}
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range []struct {
		id   byte
		body []byte
	}{{1, types}, {3, fsec}, {5, []byte{1, 0, 1}}, {secExport, esec}, {secCode, csec}} {
		wasm = append(wasm, s.id)
		wasm = appendU32(wasm, uint32(len(s.body)))
		wasm = append(wasm, s.body...)
	}
	inst, err := instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, inst)
	if err != nil {
		t.Fatalf("the instrumented module does not validate: %v", err)
	}
	for i, f := range funcs {
		t.Run(f.name, func(t *testing.T) {
			mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(fmt.Sprint(i)))
			if err != nil {
				t.Fatal(err)
			}
			defer mod.Close(ctx)
			mod.ExportedGlobal(interruptGlobal).(api.MutableGlobal).Set(1)
			var params []uint64
			if f.typ == 1 {
				params = []uint64{26} // 2^26 calls: done in a second without checks
				if f.name == "dispatch" {
					params = []uint64{0}
				}
			}
			_, err = mod.ExportedFunction(f.name).Call(ctx, params...)
			if err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("call = %v, want the check's unreachable trap", err)
			}
		})
	}
}
