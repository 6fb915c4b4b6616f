package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/bench/pipebench"
	"github.com/canopy-dev/canopy/sdk/pipe"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// testdata/want.txt is computed by hand from testdata/access.log (see
// README.md); the native build and the committed pipes-wasm/requests.wasm
// must both produce exactly it.
func TestGolden(t *testing.T) {
	pipetest.Golden(t, &requestsPipe{}, "../../pipes-wasm/requests.wasm", "main")
}

func BenchmarkPipe(b *testing.B) {
	pipebench.Pipe(b, &requestsPipe{}, "../../pipes-wasm/requests.wasm")
}

// TestStatic checks the extension list: the default one, case-insensitive
// and anchored at the end of the path, and a configured one; a static file
// that answered 404 is "not found" only (GoAccess's panels split the lines).
func TestStatic(t *testing.T) {
	log := strings.Join([]string{
		`1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET /app.JS HTTP/1.1" 200 1 "-" "-"`,
		`1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET /logo.png?v=2 HTTP/1.1" 200 1 "-" "-"`,
		`1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET /js/page HTTP/1.1" 200 1 "-" "-"`,
		`1.2.3.4 - - [05/Jan/2026:10:00:00 +0000] "GET /old.css HTTP/1.1" 404 1 "-" "-"`,
	}, "\n") + "\n"
	for _, tc := range []struct {
		name string
		cfg  map[string]string
		want map[string]float64
	}{
		{"default", nil, map[string]float64{"req,static": 2, "req,page": 1, "req,notfound": 1, "req,static,/old.css": 0, "req,notfound,/old.css": 1, "req,page,/js/page": 1}},
		{"configured", map[string]string{"static": "png, css"}, map[string]float64{"req,static": 1, "req,page": 2, "req,page,/app.JS": 1, "req,static,/old.css": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := pipetest.Native(t, &requestsPipe{}, tc.cfg, pipetest.Lines(t, "combined", log))
			for k, w := range tc.want {
				if got, _ := res.Value(k); got != w {
					t.Errorf("%s = %v, want %v\n%s", k, got, w, res)
				}
			}
		})
	}
}

// TestStaticLookup checks that the extension lookup (one-dot extensions)
// answers as comparing every suffix does.
func TestStaticLookup(t *testing.T) {
	paths := []string{"", ".", "/", "/a", "/a.", "/a.css", "/A.CSS", "/a.Css/", "/a.css/b", "/x.tar.gz", "/.js", "/a.woff2",
		"/a.woff22", "/a.b.json", "/a.verylongextension", "/a/b.c/d", "/é.png", "/a.jpeg", "/a.jpe"}
	for _, static := range []string{DefaultStatic, "png, CSS", "", "tar.gz,js"} {
		p := &requestsPipe{}
		if err := p.Init(pipe.Config{"static": static}); err != nil {
			t.Fatal(err)
		}
		fast := p.extSet != nil
		for _, path := range paths {
			got := p.isStatic(path)
			set := p.extSet
			p.extSet = nil
			want := p.isStatic(path)
			p.extSet = set
			if got != want {
				t.Errorf("static %q (lookup %v): isStatic(%q) = %v, comparing suffixes %v", static, fast, path, got, want)
			}
		}
	}
}

// TestTopBounded sends 50,000 distinct 404 paths and 50 hot ones (100 hits
// each, 1 in 550 lines): the hot ones get their keys, the keys stay capped and keys plus _other add
// up to every 404.
func TestTopBounded(t *testing.T) {
	var recs []pipeabi.Record
	for i := range 50000 {
		recs = append(recs, pipeabi.Record{Status: 404, Method: "GET", Path: fmt.Sprintf("/scan/%d", i)})
		if i%10 == 0 {
			recs = append(recs, pipeabi.Record{Status: 404, Method: "GET", Path: fmt.Sprintf("/hot/%d", i/10%50)})
		}
	}
	cfg := map[string]string{"top": "10", "max_keys": "100", "capacity": "1000"}
	res := pipetest.Native(t, &requestsPipe{}, cfg, recs)
	var sum float64
	keys := 0
	for _, k := range res.Keys() {
		if strings.HasPrefix(k, "req,notfound,") {
			v, _ := res.Value(k)
			sum += v
			keys++
		}
	}
	if keys > 101 {
		t.Errorf("%d notfound keys, want at most 100 (max_keys) + _other", keys)
	}
	if sum != float64(len(recs)) {
		t.Errorf("notfound keys sum to %v, want %d", sum, len(recs))
	}
	for i := range 50 {
		if v, _ := res.Value(fmt.Sprintf("req,notfound,/hot/%d", i)); v < 90 {
			t.Errorf("/hot/%d = %v, want about 100 (it has 100 hits)", i, v)
		}
	}
	if v, _ := res.Value("req,notfound"); v != float64(len(recs)) {
		t.Errorf("req,notfound = %v, want %d", v, len(recs))
	}
}
