package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfig loads the shipped, commented example: it must stay valid.
func TestExampleConfig(t *testing.T) {
	if _, err := Load("../../conf/canopyd.yaml", false); err != nil {
		t.Fatalf("conf/canopyd.yaml: %v", err)
	}
}

func TestMissingConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := Load(missing, true); err != nil {
		t.Errorf("optional missing config: %v, want defaults", err)
	}
	if _, err := Load(missing, false); err == nil || !strings.Contains(err.Error(), "cannot read config") {
		t.Errorf("required missing config: err = %v", err)
	}
}

// TestBadConfigs checks that each bad fixture is refused with an error that
// says what is wrong and where.
func TestBadConfigs(t *testing.T) {
	tests := map[string]string{
		"unknown-key.yaml": "field sorces not found",
		"bad-proto.yaml":   `listeners[0]: proto "sctp": want tcp or udp`,
		"bad-format.yaml":  `listeners[0]: format "influx"`,
		"bad-scope.yaml":   `tokens[0]: scope "admin": want read or write`,
		"empty-path.yaml":  "sources[0]: path is empty",
		"not-yaml.yaml":    "cannot parse config",
		"wrong-type.yaml":  "cannot unmarshal",
	}
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(tests) {
		t.Errorf("%d bad fixtures, %d expectations", len(files), len(tests))
	}
	for name, want := range tests {
		path := filepath.Join("testdata/bad", name)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		_, err := Load(path, false)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want it to name the file and contain %q", name, err, want)
		}
	}
}
