package pyconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigGolden(t *testing.T) {
	src, err := os.ReadFile("testdata/nginx.pyconf")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig("nginx.pyconf", src)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if len(c.Modules) != 1 || len(c.Groups) != 1 {
		t.Fatalf("got %d modules, %d groups; want 1, 1", len(c.Modules), len(c.Groups))
	}
	m := c.Modules[0]
	if m.Name != "nginx" || m.Path != "builtin.wasm" || !m.Enabled || m.DefaultAction != "average" {
		t.Errorf("module = %+v", m)
	}
	if got := m.Params["url"]; got != "http://127.0.0.1:8080/nginx_status" {
		t.Errorf("param url = %q", got)
	}
	if got := m.Params["timeout_ms"]; got != "2000" {
		t.Errorf("param timeout_ms = %q (params arrive as strings)", got)
	}
	if len(m.Grants.HTTPGet) != 1 {
		t.Errorf("grants = %+v", m.Grants)
	}
	g := c.Groups[0]
	if g.CollectEvery != 10*time.Second || g.TimeThreshold != time.Minute {
		t.Errorf("group timing = %v / %v", g.CollectEvery, g.TimeThreshold)
	}
	if len(g.Metrics) != 2 || g.Metrics[0].Name != "requests" || g.Metrics[0].ValueThreshold != 1 || g.Metrics[0].Title != "Requests" {
		t.Errorf("metrics = %+v", g.Metrics)
	}
	if !g.Metrics[1].Matches("waiting") || g.Metrics[1].Matches("requests") {
		t.Errorf("name_match does not select as expected")
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed section", "modules {\n  module {\n name = \"x\"\n", "f:2:10: section module is not closed"},
		{"stray brace", "}\n", "f:1:1: unexpected '}'"},
		{"missing value", "modules { module { name = } }", "f:1:27: want a value"},
		{"unclosed string", "modules { module { name = \"x\n } }", "f:1:27: string is not closed"},
		{"unknown top", "\n\n   globals { }", "f:3:4: unknown top-level entry \"globals\""},
		{"unknown module key", "modules { module { name = \"x\" path = \"p\" colour = 3 } }", "f:1:42: unknown entry \"colour\" in module"},
		{"no path", "modules { module { name = \"x\" } }", "f:1:11: module \"x\" has no path"},
		{"bad number", "collection_group { collect_every = 1.2.3 metric { name = \"a\" } }", "f:1:36: bad number"},
		{"threshold word", "collection_group { time_threshold = soon metric { name = \"a\" } }", "f:1:37: time_threshold: want a number"},
		{"empty group", "collection_group { collect_every = 5 }", "f:1:1: collection_group has no metric"},
		{"bad regexp", "collection_group { metric { name_match = \"(\" } }", "f:1:42: name_match \"(\""},
		{"param without value", "modules { module { name = \"x\" path = \"p\" param a { } } }", "f:1:42: param a has no value"},
		{"bad grant", "modules { module { name = \"x\" path = \"p\" grant { write = \"/etc\" } } }", "f:1:50: unknown grant \"write\""},
		{"relative read", "modules { module { name = \"x\" path = \"p\" grant { read = \"proc\" } } }", "f:1:57: read \"proc\": want an absolute path"},
		{"duplicate module", "modules { module { name = \"x\" path = \"p\" } module { name = \"x\" path = \"q\" } }", "f:1:44: module \"x\" is already defined at 1:11"},
		{"unclosed comment", "/* hello", "f:1:1: comment is not closed"},
		{"bad char", "modules @", "f:1:9: unexpected character '@'"},
		{"language", "modules { module { name = \"x\" path = \"p\" language = \"python\" } }", "only wasm modules"},
		{"bad action", "modules { module { name = \"x\" path = \"p\" defaultaction = \"sum\" } }", "defaultaction \"sum\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("f", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q; want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseSyntax(t *testing.T) {
	src := "a = 1, b = 'two'; c = yes\nsec \"t\" { d = -2.5e3 }\n"
	nodes, err := Parse("f", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 4 {
		t.Fatalf("got %d nodes, want 4", len(nodes))
	}
	if nodes[1].Value.Text != "two" || nodes[1].Value.Kind != KindString {
		t.Errorf("b = %+v", nodes[1].Value)
	}
	if nodes[2].Value.Kind != KindWord {
		t.Errorf("c kind = %v", nodes[2].Value.Kind)
	}
	s := nodes[3]
	if s.Title == nil || s.Title.Text != "t" || s.Pos != (Pos{2, 1}) || s.Children[0].Value.Text != "-2.5e3" {
		t.Errorf("section = %+v", s)
	}
}

func FuzzParseConfig(f *testing.F) {
	seed, _ := os.ReadFile("testdata/nginx.pyconf")
	f.Add(string(seed))
	f.Add("modules { module { name = \"x\" path = \"p\" param a { value = 1 } } }")
	f.Add("collection_group { collect_every = 10 metric { name_match = \"^a\" value_threshold = 0.5 } }")
	f.Add("/* x */ # y\n// z\na 'b' { c = \"\\n\\q\" }")
	f.Add(strings.Repeat("a {", 40))
	f.Fuzz(func(t *testing.T, src string) {
		c, err := ParseConfig("fuzz", []byte(src))
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not a *Error", err)
			}
			e := err.(*Error)
			if e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error without a place: %v", err)
			}
			return
		}
		for _, m := range c.Modules {
			if m.Name == "" || m.Path == "" {
				t.Fatalf("accepted a module without name or path: %+v", m)
			}
		}
	})
}

// The examples in conf/agent.d, on and off, must all parse.
func TestExampleModuleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../conf/agent.d/*.conf*")
	if err != nil || len(files) < 8 {
		t.Fatalf("found %d example configs (%v)", len(files), err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(f, src)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(c.Modules) != 1 || len(c.Groups) == 0 {
			t.Errorf("%s: %d modules, %d groups", f, len(c.Modules), len(c.Groups))
		}
	}
}
