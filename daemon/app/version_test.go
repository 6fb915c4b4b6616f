package app

import (
	"runtime/debug"
	"strings"
	"testing"
	"testing/fstest"
)

func TestWriteVersion(t *testing.T) {
	pipes := fstest.MapFS{"status.wasm": {Data: []byte("status")}, "browser.wasm": {Data: []byte("browser")}}
	modules := fstest.MapFS{"builtin.wasm": {Data: []byte("mod")}}
	vcs := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-07T09:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name            string
		version, commit string
		info            *debug.BuildInfo
		want            string // the first two lines
	}{
		{"no build info", "", "", nil, "canopyd devel\ncommit unknown"},
		{"vcs stamp", "", "", vcs, "canopyd devel\ncommit 0123456789ab 2026-12-07T09:00:00Z (modified)"},
		{"ldflags win", "0.1.0~gitabc", "abc", vcs, "canopyd 0.1.0~gitabc\ncommit abc"},
		{"go install", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "canopyd v1.2.3\ncommit unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeVersion(&b, tc.version, tc.commit, tc.info, pipes, modules); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(b.String(), "\n")
			got := strings.Join(lines[:2], "\n")
			// sha256("browser"), ("status"), ("mod"): first 6 bytes.
			wantPipes := "built-in pipes:\n  browser  sha256:d4c3e8a11256  7 bytes\n  status   sha256:073c1634c496  6 bytes\n" +
				"built-in agent modules:\n  builtin  sha256:e55cffc81a5a  3 bytes\n"
			if got != tc.want || strings.Join(lines[3:], "\n") != wantPipes {
				t.Errorf("got\n%s\nwant\n%s\n(go line)\n%s", b.String(), tc.want, wantPipes)
			}
		})
	}
}
