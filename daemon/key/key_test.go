package key_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/canopy-dev/canopy/daemon/key"
)

func TestBadPatterns(t *testing.T) {
	for _, c := range []struct {
		pattern  string
		graphite bool
	}{
		{"a,%zz", false}, {"a,[b", false}, {"a,b%", false}, {"br,[]", false}, {"br,[!]", false},
		{"a,[z-a]", false}, {strings.Repeat("a,", 64) + "a", false},
		{"", true}, {"a..b", true}, {"a.{b", true}, {"a.[", true},
	} {
		parse := key.Parse
		if c.graphite {
			parse = key.ParseGraphite
		}
		if _, err := parse(c.pattern); !errors.Is(err, key.ErrSyntax) {
			t.Errorf("%q (graphite %v): error %v, want ErrSyntax", c.pattern, c.graphite, err)
		}
	}
}

func TestPatternShape(t *testing.T) {
	for _, c := range []struct {
		pattern string
		exact   string // "" = not exact
		prefix  string
		depth   int // -1 = varies
	}{
		{"br,ie,7", "br,ie,7", "br,ie,7", 3},
		{"x%2cy,a%20b", "x%2Cy,a b", "x%2Cy,a b", 2},
		{"br,*,7", "", "br", 3},
		{"br,{ie,ff},7", "", "br", 3},
		{"url,/api/{id}", "url,/api/{id}", "url,/api/{id}", 2},
		{"br,**,**", "", "br", -1},
		{"", "", "", 0},
	} {
		p, err := key.Parse(c.pattern)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		exact, _ := p.Exact()
		depth, fixed := p.Depth()
		if !fixed {
			depth = -1
		}
		if exact != c.exact || key.Join(p.Prefix()) != c.prefix || depth != c.depth {
			t.Errorf("%q: exact %q prefix %q depth %d, want %q %q %d", c.pattern, exact, key.Join(p.Prefix()), depth, c.exact, c.prefix, c.depth)
		}
	}
}

func TestJoinSplit(t *testing.T) {
	names, err := key.Split("url,/a%2Cb,50%25,%E6%97%A5")
	if err != nil || strings.Join(names, "|") != "url|/a,b|50%|日" {
		t.Errorf("Split = %q, %v", names, err)
	}
	if got := key.Join(names); got != "url,/a%2Cb,50%25,日" {
		t.Errorf("Join = %q", got)
	}
	if got := key.FromGraphite(key.ToGraphite("br,webkit,14.0")); got != "br,webkit,14.0" {
		t.Errorf("graphite round trip = %q", got)
	}
}

// FuzzPattern checks the pattern's two matchers agree (by names, as tree
// reads use it, and by its regexp over escaped keys, as trend backends
// use it) and that a key always matches itself.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"br,ie,7", "br,**", "**,x", "a,,b", "a,[b-c]*,?", "x%2Cy", "[", "a,**,**",
		"a,{b,c*},d", "url,/a[%2C/]b", "url,*%25", "a,[!%2C]", "a,{b}", "ü,?"} {
		f.Add(s, "br|ie|7", false)
		f.Add(s, "a|x,y|d", true)
	}
	f.Fuzz(func(t *testing.T, pattern, path string, graphite bool) {
		parse := key.Parse
		if graphite {
			parse = key.ParseGraphite
		}
		p, err := parse(pattern)
		if err != nil {
			return
		}
		if exact, ok := p.Exact(); ok {
			names, err := key.Split(exact)
			if err != nil || !p.Match(names) || !p.MatchKey(exact) {
				t.Errorf("%q does not match its own key %q (%v)", pattern, exact, err)
			}
		}
		// A regexp reads an invalid byte as U+FFFD, so only UTF-8 is
		// compared.
		if path == "" || !utf8.ValidString(path) || !utf8.ValidString(pattern) {
			return
		}
		names := strings.Split(path, "|")
		for _, n := range names {
			if n == "" {
				return
			}
		}
		if byNames, byKey := p.Match(names), p.MatchKey(key.Join(names)); byNames != byKey {
			t.Errorf("%q on %q: by names %v, by escaped key %q %v (regexp %s)", pattern, names, byNames, key.Join(names), byKey, p.Regexp())
		}
	})
}
