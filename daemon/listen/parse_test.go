package listen

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/canopy-dev/canopy/daemon/tree"
)

func TestParseStatsD(t *testing.T) {
	tests := []struct {
		line  string
		want  Stat
		tags  string
		error string
	}{
		{line: "hits:1|c", want: Stat{Name: []byte("hits"), Kind: StatCounter, Value: 1, Rate: 1}},
		{line: "a.b.c:2.5|c|@0.1", want: Stat{Name: []byte("a.b.c"), Kind: StatCounter, Value: 2.5, Rate: 0.1}},
		{line: "temp:21|g", want: Stat{Name: []byte("temp"), Kind: StatGauge, Value: 21, Rate: 1}},
		{line: "temp:-3|g", want: Stat{Name: []byte("temp"), Kind: StatGauge, Value: -3, Rate: 1, Delta: true}},
		{line: "temp:+3|g", want: Stat{Name: []byte("temp"), Kind: StatGauge, Value: 3, Rate: 1, Delta: true}},
		{line: "req:320|ms|@0.5|#env:prod,host:a", want: Stat{Name: []byte("req"), Kind: StatTimer, Value: 320, Rate: 0.5}, tags: "env:prod host:a"},
		{line: "req:3|h", want: Stat{Name: []byte("req"), Kind: StatTimer, Value: 3, Rate: 1}},
		{line: "users:alice|s", want: Stat{Name: []byte("users"), Kind: StatSet, Rate: 1}},
		{line: "x:1|c|#a:b|c:abc|T1656581400", want: Stat{Name: []byte("x"), Kind: StatCounter, Value: 1, Rate: 1}, tags: "a:b"},
		{line: "x:1|c\r", want: Stat{Name: []byte("x"), Kind: StatCounter, Value: 1, Rate: 1}},
		{line: "", error: "empty line"},
		{line: "nocolon", error: "no ':'"},
		{line: ":1|c", error: "empty metric name"},
		{line: "x:1", error: "no '|'"},
		{line: "x:1|q", error: "unknown metric type"},
		{line: "x:|c", error: "empty value"},
		{line: "x:abc|c", error: "not a number"},
		{line: "x:NaN|g", error: "not a finite number"},
		{line: "x:1|c|@2", error: "sample rate"},
		{line: "x:1|c|@0", error: "sample rate"},
		{line: "x:1|c|zz", error: "unknown field"},
	}
	for _, tt := range tests {
		var s Stat
		if !checkParseError(t, tt.line, ParseStatsD([]byte(tt.line), &s), tt.error) {
			continue
		}
		if string(s.Name) != string(tt.want.Name) || s.Kind != tt.want.Kind || s.Value != tt.want.Value ||
			s.Rate != tt.want.Rate || s.Delta != tt.want.Delta {
			t.Errorf("%q: got %+v, want %+v", tt.line, s, tt.want)
		}
		if got := joinTags(s.Tags); got != tt.tags {
			t.Errorf("%q: got tags %q, want %q", tt.line, got, tt.tags)
		}
	}
}

// checkParseError checks err against want (a substring; "" = no error) and
// reports whether the parsed value should be checked too.
func checkParseError(t *testing.T, line string, err error, want string) bool {
	t.Helper()
	switch {
	case want != "":
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got error %v, want %q", line, err, want)
		}
		return false
	case err != nil:
		t.Errorf("%q: %v", line, err)
		return false
	}
	return true
}

func joinTags(tags [][]byte) string {
	s := make([]string, len(tags))
	for i, tg := range tags {
		s[i] = string(tg)
	}
	return strings.Join(s, " ")
}

func TestParseGraphite(t *testing.T) {
	tests := []struct {
		line  string
		name  string
		value float64
		time  int64
		tags  string
		error string
	}{
		{line: "a.b.c 12 1700000000", name: "a.b.c", value: 12, time: 1700000000},
		{line: "a.b.c\t1.5\t1700000000.25", name: "a.b.c", value: 1.5, time: 1700000000},
		{line: "a.b  -4", name: "a.b", value: -4},
		{line: "a.b 4 -1", name: "a.b", value: 4},
		{line: "cpu;host=a;dc=x 3 1700000000", name: "cpu", value: 3, time: 1700000000, tags: "host=a dc=x"},
		{line: "", error: "empty line"},
		{line: "a.b", error: "no value"},
		{line: "a.b x 1", error: "not a number"},
		{line: "a.b 1 yesterday", error: "timestamp"},
		{line: "a.b 1 2 3", error: "more than 3 fields"},
		{line: "cpu;host 1 2", error: "not tag=value"},
		{line: ";a=b 1 2", error: "empty metric path"},
	}
	for _, tt := range tests {
		var m Metric
		if !checkParseError(t, tt.line, ParseGraphite([]byte(tt.line), &m), tt.error) {
			continue
		}
		if tags := joinTags(m.Tags); string(m.Name) != tt.name || m.Value != tt.value || m.Time != tt.time || tags != tt.tags {
			t.Errorf("%q: got %s %v %v %q, want %s %v %v %q", tt.line, m.Name, m.Value, m.Time, tags, tt.name, tt.value, tt.time, tt.tags)
		}
	}
}

func FuzzParseStatsD(f *testing.F) {
	for _, s := range []string{"hits:1|c", "a.b:2|c|@0.1|#k:v,k2:v2", "g:-1|g", "t:3.5|ms", "s:x|s", "x:1|c|c:id|T1", ":|", "a:b|c|@"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var s Stat
		if err := ParseStatsD(line, &s); err != nil {
			return
		}
		if len(s.Name) == 0 || !(s.Rate > 0 && s.Rate <= 1) {
			t.Fatalf("%q: accepted with name %q rate %v", line, s.Name, s.Rate)
		}
		// Whatever parses must merge without error or panic.
		b := newBatch(newShared(newTestTree(), []string{"statsd"}, DefaultTimerBuckets))
		_ = b.statsd(line)
		b.flush()
		if b.errs != 0 {
			t.Fatalf("%q: the tree refused %d deltas", line, b.errs)
		}
	})
}

func FuzzParseGraphite(f *testing.F) {
	for _, s := range []string{"a.b.c 1 1700000000", "a 1", "x;k=v 2 3", "a..b 1 1", "  ", "a 1e400 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var m Metric
		if err := ParseGraphite(line, &m); err != nil {
			return
		}
		if len(m.Name) == 0 {
			t.Fatalf("%q: accepted an empty name", line)
		}
		b := newBatch(newShared(newTestTree(), []string{"graphite"}, DefaultTimerBuckets))
		_ = b.graphite(line, tree.ActionLast)
		b.flush()
		if b.errs != 0 {
			t.Fatalf("%q: the tree refused %d deltas", line, b.errs)
		}
	})
}

// FuzzReadLine checks the TCP line reader: lines come back whole and in
// order, and a line over the limit is reported by size, never buffered.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("a:1|c\nb:2|c\n"), 4)
	f.Add([]byte("no newline at end"), 100)
	f.Add([]byte("\n\n\r\nx"), 1)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 1 || max > 1<<20 {
			return
		}
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var buf []byte
		var got [][]byte
		for {
			ln, size, err := readLine(br, &buf, max)
			if size > max {
				if ln != nil {
					t.Fatalf("a line of %d bytes over the limit %d came back", size, max)
				}
				got = append(got, nil)
			} else if size > 0 || err == nil {
				if len(ln) != size {
					t.Fatalf("line %q: size %d", ln, size)
				}
				got = append(got, append([]byte(nil), ln...))
			}
			if err != nil {
				break
			}
		}
		want := bytes.Split(data, []byte{'\n'})
		if len(data) == 0 || data[len(data)-1] == '\n' {
			want = want[:len(want)-1]
		}
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d", len(got), len(want))
		}
		for i := range want {
			if len(want[i]) > max {
				continue
			}
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d: got %q, want %q", i, got[i], want[i])
			}
		}
	})
}
