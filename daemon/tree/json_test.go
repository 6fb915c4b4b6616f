package tree

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

// TestEntryJSONPieces checks the flat list's pieces against the standard
// library directly (Entry.MarshalJSON and AppendJSON share them, so
// comparing those two alone would not): numbers as strconv's 'g' shortest
// form, strings as encoding/json writes them.
func TestEntryJSONPieces(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 7, 999999, -999999, 1e6, 1234567, 0.5, 1e-7, 2.5e-7, 1e21, -3.25, math.MaxInt64, math.SmallestNonzeroFloat64} {
		if got, want := string(appendNumber(nil, v)), strconv.FormatFloat(v, 'g', -1, 64); got != want {
			t.Errorf("appendNumber(%v) = %s, want %s", v, got, want)
		}
	}
	for _, s := range []string{"", "br,ie,7", "a<b>&c", `quote"d`, `back\slash`, "ünï", "tab\t", "\xff bad utf-8", "x%2Cy"} {
		want, _ := json.Marshal(s)
		if got := string(appendJSONString(nil, s)); got != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}
