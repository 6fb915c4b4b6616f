package config

import (
	"strings"
	"testing"
	"time"
)

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../../conf/agent.conf", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "http://127.0.0.1:8080" || c.ConfigsDir != "../../conf/agent.d" || c.ModulesDir != "../../conf/modules.d" {
		t.Errorf("config = %+v", c)
	}
	if c.Timeout.D() != 10*time.Second || c.Buffer.MaxBytes != 64<<20 || c.Host == "" {
		t.Errorf("config = %+v", c)
	}
}

func TestBadConfigs(t *testing.T) {
	tests := []struct{ file, want string }{
		{"bad-scheme.conf", `scheme "udp"`},
		{"bad-key.conf", `unknown key "sever"`},
		{"bad-duration.conf", "is not a duration"},
		{"bad-host.conf", "may not hold"},
	}
	for _, tt := range tests {
		_, err := Load("testdata/"+tt.file, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.file, err, tt.want)
		}
	}
	if _, err := Load("testdata/missing.conf", true); err != nil {
		t.Errorf("an optional missing config: %v", err)
	}
	if _, err := Load("testdata/missing.conf", false); err == nil {
		t.Errorf("a required missing config: no error")
	}
}
