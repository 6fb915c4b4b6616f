package collector

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/sdk/collectorabi"
	"github.com/canopy-dev/canopy/sdk/wire"
)

func TestRegistryRoundTrip(t *testing.T) {
	r := &registry{mods: map[string]*registered{}}
	collected := 0
	r.mods["m"] = &registered{mod: Module{
		Init: func(p map[string]string) ([]Metric, error) {
			if p["k"] != "v" {
				return nil, errors.New("no param")
			}
			return []Metric{
				{Name: "n", ValueType: "uint", CallBack: func(string) (any, error) { return uint32(7), nil }},
				{Name: "s", ValueType: "string", CallBack: func(string) (any, error) { return "up", nil }},
				{Name: "bad", CallBack: func(string) (any, error) { return math.NaN(), nil }},
				{Name: "err", CallBack: func(string) (any, error) { return nil, errors.New("no data") }},
			}, nil
		},
		Collect: func() error { collected++; return nil },
	}}
	r.names = []string{"m"}
	out := r.init(collectorabi.AppendModuleRequest(nil, "m", []string{"k"}, []string{"v"}))
	if out[0] != wire.StatusOK {
		t.Fatalf("init: %q", out)
	}
	ds, err := collectorabi.DecodeDescriptors(out[1:])
	if err != nil || len(ds) != 4 || ds[0].ValueType != collectorabi.TypeUint || ds[2].ValueType != collectorabi.TypeDouble || ds[0].TimeMax != 60 {
		t.Fatalf("descriptors %+v, %v", ds, err)
	}
	Forward("x") // unknown module: ignored
	r.mods["m"].forward = append(r.mods["m"].forward, "line")
	out = r.values(collectorabi.AppendValuesRequest(nil, "m", []uint32{0, 1, 2, 3}))
	v, err := collectorabi.DecodeValues(out[1:], 4)
	if err != nil {
		t.Fatal(err)
	}
	if v.Values[0].Number != 7 || v.Values[1].Text != "up" || v.Values[2].Kind != collectorabi.ValueMissing || v.Values[3].Text != "no data" {
		t.Errorf("values = %+v", v.Values)
	}
	if len(v.Forward) != 1 || collected != 1 {
		t.Errorf("forward %q, collected %d", v.Forward, collected)
	}
	out = r.values(collectorabi.AppendValuesRequest(nil, "m", []uint32{9}))
	if out[0] != wire.StatusError {
		t.Errorf("an index out of range answered OK")
	}
	out = r.init(collectorabi.AppendModuleRequest(nil, "nope", nil, nil))
	if out[0] != wire.StatusError || !strings.Contains(string(out), "holds no module") {
		t.Errorf("init of an unknown module: %q", out)
	}
}
