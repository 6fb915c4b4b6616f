// Command summary reads `go test -bench` output on stdin and prints each
// benchmark's reported metrics, checked against targets given as arguments:
//
//	go test -bench . ./daemon/tree | go run ./bench/summary 'ApplyExisting deltas/cpu-s >= 5e6'
//
// A target is "BENCHNAME UNIT OP VALUE" with OP one of >=, <=. The exit
// status is 0 even when a target is missed: benchmarks on a shared machine
// are a report, not a gate. A benchmark run several times (-count N) is
// summarised by the median of each metric, with the spread beside it: on a
// shared machine one slow run should not decide a target.
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

type target struct {
	bench, unit, op string
	value           float64
}

func main() {
	var targets []target
	for _, a := range os.Args[1:] {
		f := strings.Fields(a)
		if len(f) != 4 || (f[2] != ">=" && f[2] != "<=") {
			fmt.Fprintf(os.Stderr, "summary: bad target %q (want \"BENCH UNIT >=|<= VALUE\")\n", a)
			os.Exit(2)
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "summary: bad target value in %q: %v\n", a, err)
			os.Exit(2)
		}
		targets = append(targets, target{f[0], f[1], f[2], v})
	}
	runs := map[string]map[string][]float64{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		if i := strings.LastIndexByte(name, '#'); i > 0 { // a repeated sub-benchmark: wasm#01
			name = name[:i]
		}
		if runs[name] == nil {
			runs[name] = map[string][]float64{}
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				runs[name][f[i+1]] = append(runs[name][f[i+1]], v)
			}
		}
	}
	metrics := map[string]map[string]float64{}
	fmt.Println("\nsummary")
	for _, name := range order {
		var parts []string
		metrics[name] = map[string]float64{}
		for unit, vs := range runs[name] {
			slices.Sort(vs)
			v := vs[len(vs)/2]
			if len(vs)%2 == 0 {
				v = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
			}
			metrics[name][unit] = v
			p := fmt.Sprintf("%s %s", strconv.FormatFloat(v, 'g', 4, 64), unit)
			if len(vs) > 1 {
				p += fmt.Sprintf(" (median of %d, %s–%s)", len(vs), strconv.FormatFloat(vs[0], 'g', 4, 64), strconv.FormatFloat(vs[len(vs)-1], 'g', 4, 64))
			}
			parts = append(parts, p)
		}
		slices.Sort(parts)
		fmt.Printf("  %-24s %s\n", name, strings.Join(parts, ", "))
	}
	if len(targets) > 0 {
		fmt.Println("targets")
	}
	for _, t := range targets {
		v, ok := metrics[t.bench][t.unit]
		status := "MISSING"
		if ok {
			met := v >= t.value
			if t.op == "<=" {
				met = v <= t.value
			}
			status = "met"
			if !met {
				status = "MISSED"
			}
		}
		fmt.Printf("  %-6s %s %s %s %g (measured %s)\n", status, t.bench, t.unit, t.op, t.value, strconv.FormatFloat(v, 'g', 4, 64))
	}
}
