package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/time.wasm must
// both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &timePipe{}, "../../pipes-wasm/time.wasm", "main")
}

func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &timePipe{}, "../../pipes-wasm/time.wasm")
}

// TestZones checks the hour is the log's local one: the same instant
// logged at +0800, -0530 and (by $time_iso8601, no $time_local) with the
// utc_offset param.
func TestZones(t *testing.T) {
	for _, tc := range []struct {
		name, format, line string
		cfg                map[string]string
		want               string
	}{
		{"shanghai", "combined", `1.2.3.4 - - [05/Jan/2026:23:30:00 +0800] "GET / HTTP/1.1" 200 1 "-" "-"`, nil,
			"time,hour,23 1\ntime,weekday,mon 1\n"},
		{"india-west", "combined", `1.2.3.4 - - [04/Jan/2026:10:00:00 -0530] "GET / HTTP/1.1" 200 1 "-" "-"`, nil,
			"time,hour,10 1\ntime,weekday,sun 1\n"},
		{"utc", "combined", `1.2.3.4 - - [05/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`, nil,
			"time,hour,00 1\ntime,weekday,mon 1\n"},
		{"param", "$remote_addr [$time_iso8601] \"$request\" $status", `1.2.3.4 [2026-01-05T15:30:00+00:00] "GET / HTTP/1.1" 200`,
			map[string]string{"utc_offset": "+0900"}, "time,hour,00 1\ntime,weekday,tue 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := pipetest.Lines(t, tc.format, tc.line+"\n")
			if got := pipetest.Native(t, &timePipe{}, tc.cfg, recs).String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestOrders checks the hour cache against the plain computation: lines in
// time order, shuffled, before 1970 and at several offsets, with and
// without $time_local.
func TestOrders(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	offs := []string{"+0000", "+0800", "-0530", "+1345", "bogus"}
	var recs []pipeabi.Record
	ns := int64(-3 * 86400e9)
	for range 20000 {
		ns += r.Int64N(600e9)
		rec := pipeabi.Record{Time: ns}
		if o := offs[r.IntN(len(offs))]; o != "bogus" || r.IntN(2) == 0 {
			rec.Vars = []pipeabi.Var{{Name: "time_local", Value: "05/Jan/2026:00:00:00 " + o}}
		}
		recs = append(recs, rec)
	}
	shuffled := slices.Clone(recs)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for name, recs := range map[string][]pipeabi.Record{"ordered": recs, "shuffled": shuffled} {
		var hours [24]float64
		var days [7]float64
		for _, rec := range recs {
			off := int64(3600) // the utc_offset param below
			if len(rec.Vars) > 0 {
				if o, ok := parseOffset(rec.Vars[0].Value[len(rec.Vars[0].Value)-5:]); ok {
					off = o
				}
			}
			sec := floorDiv(rec.Time, 1e9) + off
			hours[floorMod(sec, 86400)/3600]++
			days[floorMod(floorDiv(sec, 86400)+4, 7)]++
		}
		res := pipetest.Native(t, &timePipe{}, map[string]string{"utc_offset": "+0100"}, recs)
		for h, want := range hours {
			if got, _ := res.Value(fmt.Sprintf("time,hour,%02d", h)); got != want {
				t.Errorf("%s: hour %02d = %v, want %v", name, h, got, want)
			}
		}
		for d, want := range days {
			if got, _ := res.Value("time,weekday," + weekdays[d]); got != want {
				t.Errorf("%s: %s = %v, want %v", name, weekdays[d], got, want)
			}
		}
	}
}
