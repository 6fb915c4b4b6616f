package gmond

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseAndPush(t *testing.T) {
	f, err := os.Open("testdata/gmond.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	j, n := x.Push("ganglia")
	if n != 2 {
		t.Errorf("pushed %d metrics, want 2 (no strings, stale metrics or dead hosts)", n)
	}
	var got map[string]any
	json.Unmarshal(j, &got)
	want := map[string]any{"defaultaction": "average", "ganglia": map[string]any{"test": map[string]any{
		"web1": map[string]any{"load_one": 0.25, "mem_free": map[string]any{"": 1020884.0, "defaultunit": "KB"}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("push = %s", j)
	}
}

func TestFetch(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	xml, _ := os.ReadFile("testdata/gmond.xml")
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write(xml)
		c.Close()
	}()
	x, err := Fetch(context.Background(), l.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Clusters) != 1 || len(x.Clusters[0].Hosts) != 2 {
		t.Errorf("clusters = %+v", x.Clusters)
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("testdata/gmond.xml")
	f.Add(string(seed))
	f.Add(`<GANGLIA_XML><GRID NAME="g"><CLUSTER NAME="c"><HOST NAME="h"><METRIC NAME="m" VAL="1" TYPE="int32"/></HOST></CLUSTER></GRID></GANGLIA_XML>`)
	f.Fuzz(func(t *testing.T, s string) {
		x, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		if j, n := x.Push("ganglia"); n > 0 && !json.Valid(j) {
			t.Fatalf("invalid push JSON %s", j)
		}
	})
}
