package host

import (
	"errors"
	"fmt"
	"slices"
)

// Interrupting a guest.
//
// wazero can stop a running call when its context ends
// (WithCloseOnContextDone), but it does so by leaving native code for Go at
// every loop header. Go's wasm backend wraps every function body with a
// jump in a loop (its block and resumption dispatch), so that exit runs on
// every Go function call and jump: in wazero v1.12 each built-in pipe ran
// 3–6× slower than with the checks below (RATIONALE.md; TestWazeroReviewed
// makes an upgrade measure again).
//
// Instead, like wasmtime's epoch interruption, the host rewrites the module
// once at load. Two globals are added: $intr (exported as interruptGlobal)
// and a countdown $fuel. The check is
//
//	fuel--; if fuel == 0 { fuel = yieldEvery; memory.grow 0; if intr { unreachable } }
//
// memory.grow exits to Go in wazero, which gives the Go scheduler a point to
// stop the goroutine (native code cannot be preempted, and a guest spinning
// without ever reaching Go would block the host's garbage collector — and
// with it the watchdog — forever). A watchdog timer sets $intr when a call
// passes its time cap; the guest traps within yieldEvery checks.
//
// The check goes on the back-edges, not at loop headers: a loop repeats only
// through a branch to it, so a check before each such branch sees every
// iteration while entering a loop costs nothing — and Go enters its
// function-wide dispatch loop on every call. Go also turns every jump,
// forward or back, into a branch to that loop; a jump forward cannot
// repeat without a later jump back, so it goes unchecked too (see
// bodyRewriter.rewrite). A function body that calls anything gets the check
// at its entry, so a call tree without loops (naive recursion) still
// passes checks; deep recursion alone exhausts the stack and traps. Against
// checks at every loop header this saved ≈ 6 % of the CPU time of the hosts
// and visitors pipes (RATIONALE.md).
//
// The countdown is one global for the whole instance, not a local per
// function: with a per-call counter, a loop whose body calls a function
// with its own short loop resets the inner count on every call, and nested
// loops could run for hours between two checks.

// yieldEvery is how many checks run between two exits to Go
// (≈ 0.1 µs each): rare enough to cost < 1%, often enough that a spinning
// guest reaches Go every few tens of microseconds.
const yieldEvery = 1 << 14

// interruptGlobal is the export name of the global the host sets to stop a
// guest.
const interruptGlobal = "canopy_interrupt"

// wasm section ids used here.
const (
	secCustom = 0
	secImport = 2
	secGlobal = 6
	secExport = 7
	secCode   = 10
	secData   = 11
	// secDataCount announces passive segments, addressed by index.
	secDataCount = 12
)

// rewriteVersion names what instrument emits, in the rewrite cache
// (rewritecache.go): change it with any change to the bytes instrument,
// instrumentCode, bodyRewriter, loopCheck or mergeData write, or caches
// filled by the old code keep being used. TestRewriteVersion fails until
// it changes.
const rewriteVersion = 2

// instrument returns wasm with the interrupt global and loop checks added.
func instrument(wasm []byte) ([]byte, error) {
	if len(wasm) == 0 {
		return nil, errors.New("the file is empty (0 bytes), not a WebAssembly module")
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module (bad magic number)")
	}
	if wasm[4] != 1 || wasm[5] != 0 || wasm[6] != 0 || wasm[7] != 0 {
		return nil, fmt.Errorf("unsupported WebAssembly binary version %v", wasm[4:8])
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	r := reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("malformed module: %w", r.err)
		}
		secs = append(secs, section{id, body})
	}
	importedGlobals := uint32(0)
	definedGlobals := uint32(0)
	hasGlobal, hasExport, hasDataCount := false, false, false
	for _, s := range secs {
		switch s.id {
		case secImport:
			n, err := countImportedGlobals(s.body)
			if err != nil {
				return nil, fmt.Errorf("malformed import section: %w", err)
			}
			importedGlobals = n
		case secGlobal:
			hasGlobal = true
			sr := reader{b: s.body}
			definedGlobals = sr.u32()
			if sr.err != nil {
				return nil, fmt.Errorf("malformed global section: %w", sr.err)
			}
		case secExport:
			hasExport = true
		case secDataCount:
			hasDataCount = true
		}
	}
	gidx := importedGlobals + definedGlobals           // $intr; $fuel is gidx+1
	newGlobals := []byte{0x7F, 0x01, 0x41, 0x00, 0x0B} // mut i32 = 0
	newGlobals = append(newGlobals, 0x7F, 0x01, 0x41)
	newGlobals = appendS32(newGlobals, yieldEvery)
	newGlobals = append(newGlobals, 0x0B)
	check := loopCheck(gidx, gidx+1)

	out := append([]byte(nil), wasm[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	// order is the position of a known section id in the binary; the new
	// global and export sections go where the spec orders them.
	order := func(id byte) int {
		switch id {
		case 1, 2, 3, 4, 5:
			return int(id)
		case 13: // tag
			return 6
		case secGlobal:
			return 7
		case secExport:
			return 8
		case 8, 9:
			return int(id) + 1
		case 12: // data count
			return 11
		case secCode:
			return 12
		case 11:
			return 13
		}
		return -1
	}
	addedGlobal, addedExport := hasGlobal, hasExport
	for _, s := range secs {
		if o := order(s.id); o >= 0 {
			if !addedGlobal && o > order(secGlobal) {
				emit(secGlobal, append(appendU32(nil, 2), newGlobals...))
				addedGlobal = true
			}
			if !addedExport && o > order(secExport) {
				emit(secExport, appendExport(appendU32(nil, 1), gidx))
				addedExport = true
			}
		}
		switch s.id {
		case secGlobal:
			sr := reader{b: s.body}
			n := sr.u32()
			body := appendU32(nil, n+2)
			body = append(body, s.body[sr.off:]...)
			emit(secGlobal, append(body, newGlobals...))
		case secExport:
			sr := reader{b: s.body}
			n := sr.u32()
			body := appendU32(nil, n+1)
			body = append(body, s.body[sr.off:]...)
			emit(secExport, appendExport(body, gidx))
		case secCode:
			body, err := instrumentCode(s.body, check)
			if err != nil {
				return nil, fmt.Errorf("cannot instrument code: %w", err)
			}
			emit(secCode, body)
		case secData:
			if hasDataCount {
				emit(secData, s.body)
			} else {
				emit(secData, mergeData(s.body)) // see datamerge.go
			}
		default:
			emit(s.id, s.body)
		}
	}
	if !addedGlobal {
		emit(secGlobal, append(appendU32(nil, 2), newGlobals...))
	}
	if !addedExport {
		emit(secExport, appendExport(appendU32(nil, 1), gidx))
	}
	return out, nil
}

// loopCheck is the check put on back-edges and call entries (see the
// comment at the top of this file).
func loopCheck(intr, fuel uint32) []byte {
	b := []byte{0x23} // global.get fuel
	b = appendU32(b, fuel)
	b = append(b, 0x41, 0x01, 0x6B, 0x24) // i32.const 1; i32.sub; global.set fuel
	b = appendU32(b, fuel)
	b = append(b, 0x23) // global.get fuel
	b = appendU32(b, fuel)
	b = append(b, 0x45, 0x04, 0x40, 0x41) // i32.eqz; if; i32.const yieldEvery
	b = appendS32(b, yieldEvery)
	b = append(b, 0x24) // global.set fuel
	b = appendU32(b, fuel)
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1A, 0x23) // i32.const 0; memory.grow 0; drop; global.get intr
	b = appendU32(b, intr)
	return append(b, 0x04, 0x40, 0x00, 0x0B, 0x0B) // if; unreachable; end; end
}

func appendExport(b []byte, gidx uint32) []byte {
	b = appendU32(b, uint32(len(interruptGlobal)))
	b = append(b, interruptGlobal...)
	b = append(b, 0x03) // global
	return appendU32(b, gidx)
}

func countImportedGlobals(b []byte) (uint32, error) {
	r := reader{b: b}
	n := r.u32()
	var globals uint32
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.bytes(int(r.u32())) // module
		r.bytes(int(r.u32())) // name
		switch kind := r.byte(); kind {
		case 0x00: // func
			r.u32()
		case 0x01: // table
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global
			r.byte()
			r.byte()
			globals++
		case 0x04: // tag
			r.byte()
			r.u32()
		default:
			return 0, fmt.Errorf("unknown import kind %d", kind)
		}
	}
	return globals, r.err
}

// instrumentCode rewrites the code section, putting check into every
// function body (see rewrite).
func instrumentCode(b []byte, check []byte) ([]byte, error) {
	r := reader{b: b}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(b)+len(b)/8), n)
	rw := bodyRewriter{check: check}
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, r.err
		}
		fn, err := rw.rewrite(body)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if r.off != len(b) {
		return nil, errors.New("trailing bytes in code section")
	}
	return out, nil
}

// bodyRewriter puts the checks into function bodies, keeping its buffers
// from one body to the next.
type bodyRewriter struct {
	check []byte
	dst   []byte
	ctl   []label
	// headers are the dst offsets the check goes in at once the body is
	// done: loop headers and the entry.
	headers []int
	// tables holds the entries of dispatch loops' br_tables.
	tables []uint32
}

// label is one open block of a function body, as a branch sees it.
type label struct {
	loop bool
	// plain: the loop takes no parameters, so a br_if to it can become
	// "if check; br end": the branch carries no operands into the if.
	plain bool
	// header: the loop has the check at its header instead (a branch to it
	// that cannot carry one), once.
	header bool
	// body is where the loop's body starts in dst.
	body int

	// dispatch marks a Go dispatch loop (see rewrite): pcOp pcVar is the
	// local.get or global.get before its br_table, tables[table:table+entries]
	// that br_table's labels (the default last), closed how many of its
	// dispatch blocks have ended.
	dispatch bool
	pcOp     byte
	pcVar    uint32
	table    int
	entries  int
	closed   int
	// of is, in a dispatch block, 1 + the ctl index of its loop.
	of int
}

// insn is an instruction that a br to a dispatch loop looks back at.
type insn struct {
	op  byte
	imm int64
}

// rewrite returns body with the checks in; the result is valid until the
// next call.
//
// Every branch back to a loop gets the check: before each br, and around
// each br_if to a loop without parameters as "if check; br L+1 end". A loop
// that a br_table (or a br_if carrying operands) targets gets it at its
// header instead; its other back-edges then count twice, which is harmless.
//
// Go's wasm backend compiles a function with jumps into a dispatch loop:
//
//	loop block×n local.get PC_B br_table … end region₀ end region₁ … end
//
// and every jump, forward or back, into "i32.const pc; local.set PC_B;
// br loop", the br_table taking pc to region table[pc]. Such a br to a
// region after the current one is not a loop: regions only move forward
// between two checks, so they skip it. A function body that calls gets the
// check at its entry, for recursion without loops.
func (rw *bodyRewriter) rewrite(body []byte) ([]byte, error) {
	r := reader{b: body}
	groups := r.u32()
	for i := uint32(0); i < groups; i++ {
		r.u32()
		r.byte()
	}
	if r.err != nil {
		return nil, r.err
	}
	dst := append(rw.dst[:0], body[:r.off]...)
	entry := len(dst)
	ctl := append(rw.ctl[:0], label{}) // the function body's own block
	headers := rw.headers[:0]
	tables := rw.tables[:0]
	calls := false
	// cand is the ctl index of a loop that may open a dispatch, followed so
	// far by blocks blocks and, if got, global.get pcGlobal.
	cand, blocks, got, pcOp, pcVar := -1, 0, false, byte(0), uint32(0)
	var prev [2]insn // the last two instructions, prev[1] the latest
	// target resolves a branch depth to its label.
	target := func(depth int64) (*label, error) {
		if depth < 0 || depth >= int64(len(ctl)) {
			return nil, fmt.Errorf("branch depth %d with %d blocks open", depth, len(ctl))
		}
		return &ctl[len(ctl)-1-int(depth)], nil
	}
	// atHeader moves the checks for l's loop to its header.
	atHeader := func(l *label) {
		if l.loop && !l.header {
			l.header = true
			headers = append(headers, l.body)
		}
	}
	for r.off < len(body) {
		start := r.off
		op := r.byte()
		var bt byte
		if op == 0x02 || op == 0x03 || op == 0x04 || op == 0x06 || op == 0x1F {
			bt = r.peek()
		}
		if err := r.skipImmediates(op); err != nil {
			return nil, err
		}
		if r.err != nil {
			return nil, fmt.Errorf("opcode 0x%02x at %d: %w", op, start, r.err)
		}
		if len(ctl) == 0 {
			return nil, fmt.Errorf("opcode 0x%02x at %d after the body's end", op, start)
		}
		imm := body[start+1 : r.off]
		cur := insn{op: op}
		keep := false // keeps cand
		switch op {
		case 0x02, 0x04, 0x06: // block if try
			if op == 0x02 && bt == 0x40 && cand >= 0 && !got {
				blocks++
				keep = true
			}
			ctl = append(ctl, label{})
		case 0x03: // loop
			// A one-byte block type is empty (0x40) or a value type, both
			// negative in s33; a type index may have parameters.
			ctl = append(ctl, label{loop: true, plain: bt&0xC0 == 0x40, body: len(dst) + r.off - start})
			if bt == 0x40 {
				cand, blocks, got, keep = len(ctl)-1, 0, false, true
			}
		case 0x1F: // try_table: its catch clauses branch to labels
			cr := reader{b: imm}
			cr.s64()
			for n := cr.u32(); n > 0 && cr.err == nil; n-- {
				if kind := cr.byte(); kind < 2 {
					cr.u32() // tag
				}
				l, err := target(int64(cr.u32()))
				if err != nil {
					return nil, err
				}
				atHeader(l)
			}
			ctl = append(ctl, label{})
		case 0x0B, 0x18: // end, delegate (which ends a try)
			if of := ctl[len(ctl)-1].of; of > 0 {
				ctl[of-1].closed++
			}
			ctl = ctl[:len(ctl)-1]
		case 0x10, 0x11, 0x12, 0x13: // call call_indirect return_call return_call_indirect
			calls = true
		case 0x20, 0x21, 0x23, 0x24: // local.get local.set global.get global.set
			cur.imm = int64((&reader{b: imm}).u32())
			if (op == 0x20 || op == 0x23) && cand >= 0 && blocks > 0 && !got {
				got, pcOp, pcVar, keep = true, op, uint32(cur.imm), true
			}
		case 0x41: // i32.const
			cur.imm = sleb(imm)
		case 0x0C: // br
			l, err := target(int64((&reader{b: imm}).u32()))
			if err != nil {
				return nil, err
			}
			if l.loop && !(l.dispatch && forward(l, prev, tables)) {
				dst = append(dst, rw.check...)
			}
		case 0x0D: // br_if
			depth := (&reader{b: imm}).u32()
			l, err := target(int64(depth))
			if err != nil {
				return nil, err
			}
			if l.loop && l.plain {
				dst = append(dst, 0x04, 0x40) // if
				dst = append(dst, rw.check...)
				dst = append(dst, 0x0C) // br, one deeper inside the if
				dst = appendU32(dst, depth+1)
				dst = append(dst, 0x0B) // end
				prev = [2]insn{prev[1], cur}
				cand = -1
				continue
			}
			atHeader(l)
		case 0x0E, 0xD5, 0xD6: // br_table br_on_null br_on_non_null
			lr := reader{b: imm}
			n := uint32(1)
			if op == 0x0E {
				n += lr.u32()
			}
			first := len(tables)
			dispatch := op == 0x0E && cand >= 0 && got
			for ; n > 0 && lr.err == nil; n-- {
				depth := lr.u32()
				if dispatch {
					tables = append(tables, depth)
					dispatch = int(depth) < blocks
				}
				l, err := target(int64(depth))
				if err != nil {
					return nil, err
				}
				atHeader(l)
			}
			if dispatch {
				l := &ctl[cand]
				l.dispatch, l.pcOp, l.pcVar, l.table, l.entries = true, pcOp, pcVar, first, len(tables)-first
				for i := cand + 1; i < len(ctl); i++ {
					ctl[i].of = cand + 1
				}
			} else {
				tables = tables[:first]
			}
		}
		if !keep {
			cand = -1
		}
		prev = [2]insn{prev[1], cur}
		dst = append(dst, body[start:r.off]...)
	}
	if len(ctl) != 0 {
		return nil, fmt.Errorf("%d blocks left open at the body's end", len(ctl))
	}
	if calls {
		headers = append(headers, entry)
	}
	if len(headers) > 0 {
		dst = insertAt(dst, headers, rw.check)
	}
	rw.dst, rw.ctl, rw.headers, rw.tables = dst, ctl, headers, tables
	return dst, nil
}

// forward reports whether prev, the two instructions before a br to the
// dispatch loop l, send it to a region after the current one.
func forward(l *label, prev [2]insn, tables []uint32) bool {
	if prev[0].op != 0x41 || prev[1].op != l.pcOp+1 || uint32(prev[1].imm) != l.pcVar {
		return false
	}
	i := l.entries - 1 // the default
	if pc := prev[0].imm; pc >= 0 && pc < int64(i) {
		i = int(pc)
	}
	return int(tables[l.table+i]) > l.closed-1
}

// sleb decodes a signed LEB128 number.
func sleb(b []byte) int64 {
	var v int64
	shift := 0
	for _, c := range b {
		v |= int64(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			break
		}
	}
	return v
}

// insertAt inserts check at each offset in b.
func insertAt(b []byte, offsets []int, check []byte) []byte {
	slices.Sort(offsets)
	old := len(b)
	b = slices.Grow(b, len(offsets)*len(check))[:old+len(offsets)*len(check)]
	end := old // b[:end] is still to move
	for i := len(offsets) - 1; i >= 0; i-- {
		at := offsets[i]
		shift := (i + 1) * len(check)
		copy(b[at+shift:end+shift], b[at:end])
		copy(b[at+shift-len(check):], check)
		end = at
	}
	return b
}

// skipImmediates advances past the immediates of op.
func (r *reader) skipImmediates(op byte) error {
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04 || op == 0x06: // block loop if try: blocktype
		r.s64()
	case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x18: // catch throw rethrow delegate
		r.u32()
	case op == 0x0C || op == 0x0D || op == 0xD5 || op == 0xD6: // br br_if br_on_null br_on_non_null
		r.u32()
	case op == 0x1F: // try_table
		r.s64()
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			if kind := r.byte(); kind < 2 {
				r.u32()
			}
			r.u32()
		}
	case op == 0x0E: // br_table
		n := r.u32()
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x10 || op == 0x12: // call return_call
		r.u32()
	case op == 0x11 || op == 0x13: // call_indirect return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1C: // select t*
		n := r.u32()
		r.bytes(int(n))
	case op >= 0x20 && op <= 0x26: // local.* global.* table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3E: // loads and stores
		r.memarg()
	case op == 0x3F || op == 0x40: // memory.size memory.grow
		r.u32()
	case op == 0x41:
		r.s64()
	case op == 0x42:
		r.s64()
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xD0: // ref.null
		r.byte()
	case op == 0xD2: // ref.func
		r.u32()
	case op == 0xFC:
		switch sub := r.u32(); sub {
		case 0, 1, 2, 3, 4, 5, 6, 7: // saturating truncations
		case 8: // memory.init
			r.u32()
			r.u32()
		case 9, 13, 15, 16, 17: // data.drop elem.drop table.grow table.size table.fill
			r.u32()
		case 10, 12, 14: // memory.copy table.init table.copy
			r.u32()
			r.u32()
		case 11: // memory.fill
			r.u32()
		default:
			return fmt.Errorf("unknown 0xFC opcode %d", sub)
		}
	case op == 0xFD: // SIMD
		switch sub := r.u32(); {
		case sub <= 11 || sub == 92 || sub == 93:
			r.memarg()
		case sub == 12 || sub == 13:
			r.bytes(16)
		case sub >= 21 && sub <= 34:
			r.byte()
		case sub >= 84 && sub <= 91:
			r.memarg()
			r.byte()
		}
	case op == 0xFE: // threads
		if sub := r.u32(); sub == 0x03 {
			r.byte()
		} else {
			r.memarg()
		}
	}
	return nil
}

// reader decodes the wasm binary primitives; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

var errEOF = errors.New("unexpected end")

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.err = errEOF
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// peek returns the next byte without consuming it (0 at the end).
func (r *reader) peek() byte {
	if r.err != nil || r.off >= len(r.b) {
		return 0
	}
	return r.b[r.off]
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || len(r.b)-r.off < n {
		r.err = errEOF
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) u32() uint32 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			return uint32(v)
		}
	}
	if r.err == nil {
		r.err = errors.New("LEB128 too long")
	}
	return 0
}

func (r *reader) s64() {
	for i := 0; i < 10; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	if r.err == nil {
		r.err = errors.New("LEB128 too long")
	}
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.s64() // offset (u32, or u64 with memory64)
}

func (r *reader) limits() {
	flag := r.byte()
	r.s64()
	if flag&0x01 != 0 {
		r.s64()
	}
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
