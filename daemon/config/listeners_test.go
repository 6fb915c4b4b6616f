package config

import (
	"strings"
	"testing"
)

// The listeners, tokens and limits sections: good configs load, bad ones
// are refused with the offending entry named.
func TestListenersTokensLimits(t *testing.T) {
	tests := []struct {
		name, yaml, err string
	}{
		{"all formats", `listeners:
  - {proto: udp, listen: "127.0.0.1:8125", format: statsd, prefix: app, read_buffer: 8388608, readers: 4, max_series: 1000}
  - {proto: tcp, listen: "127.0.0.1:2003", format: graphite, action: average}
  - {proto: tcp, listen: "127.0.0.1:8126", format: json, max_conns: 10}
  - {proto: udp, listen: "127.0.0.1:8127", format: accesslog}
tokens:
  - {name: g, token: "x", scopes: [read, write]}
limits: {max_body_bytes: 1000, max_line_bytes: 100, max_json_depth: 8, max_push_nodes: 10, max_long_polls: 5}
`, ""},
		{"bad proto", `listeners: [{proto: sctp, listen: ":1", format: json}]`, "listeners[0]: proto"},
		{"bad format", `listeners: [{proto: tcp, listen: ":1", format: carbon}]`, "listeners[0]: format"},
		{"no address", `listeners: [{proto: tcp, format: json}]`, "listen address is empty"},
		{"bad action", `listeners: [{proto: tcp, listen: ":1", format: graphite, action: sum}]`, "action \"sum\""},
		{"action on statsd", `listeners: [{proto: tcp, listen: ":1", format: statsd, action: add}]`, "only for format graphite"},
		{"prefix on json", `listeners: [{proto: tcp, listen: ":1", format: json, prefix: x}]`, "prefix is only for formats"},
		{"negative", `listeners: [{proto: udp, listen: ":1", format: statsd, readers: -1}]`, "must not be negative"},
		{"typo", `listeners: [{proto: udp, listen: ":1", format: statsd, reader: 2}]`, `unknown key "reader"`},
		{"empty token", `tokens: [{name: a, scopes: [read]}]`, "tokens[0]: token is empty"},
		{"bad scope", `tokens: [{token: a, scopes: [admin]}]`, "scope \"admin\""},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), tt.name)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: got error %v, want %q", tt.name, err, tt.err)
		}
	}
}
