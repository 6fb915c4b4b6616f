package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// TestAgentOutage: canopy-agent pushes one heartbeat per second (the
// sdk's heartbeat example, defaultaction add, so the tree counts beats);
// canopyd is stopped for 20 s and restarted on its data dir. The beats of
// the outage wait in the agent's disk buffer and arrive after the restart:
// the tree's count equals the agent's collection rounds (none lost), and
// is not above them (none twice).
func TestAgentOutage(t *testing.T) {
	const outage = 20 * time.Second
	dir := t.TempDir()
	modules, configs := filepath.Join(dir, "modules"), filepath.Join(dir, "agent.d")
	must(t, os.MkdirAll(modules, 0o755))
	must(t, os.MkdirAll(configs, 0o755))
	must(t, pipetest.BuildWASM(filepath.Join("..", "..", "sdk", "collector", "example", "heartbeat"), filepath.Join(modules, "heartbeat.wasm")))
	hb, err := os.ReadFile(filepath.Join("..", "..", "sdk", "collector", "example", "heartbeat", "heartbeat.conf"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(configs, "heartbeat.conf"), hb, 0o644))
	agentBin := filepath.Join(dir, "canopy-agent")
	build := exec.Command("go", "build", "-o", agentBin, "github.com/canopy-dev/canopy/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cannot build canopy-agent: %v\n%s", err, out)
	}

	d := startDaemon(t, "", nil, "-snapshot.interval", "1s")
	conf := filepath.Join(dir, "agent.conf")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf("host: chaos\nmodules_dir: %s\nconfigs_dir: %s\nbuffer:\n  dir: %s\ncache_dir: %s\nrescan: 1s\ntimeout: 2s\n",
		modules, configs, filepath.Join(dir, "buffer"), filepath.Join(pipetest.CacheDir(), "agent"))), 0o644))
	var out testenv.SyncBuffer
	agent := exec.Command(agentBin, "-config", conf, "-server", d.URL(), "-every", "1s")
	agent.Stdout, agent.Stderr = &out, &out
	must(t, agent.Start())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			agent.Process.Kill()
			agent.Wait()
		}
	})
	const key = "heartbeat,chaos,beats"
	waitUntil(t, 2*time.Minute, "3 heartbeats", func() bool { return getNumber(t, d.URL(), key) >= 3 })

	d.Stop()
	before := 0.0 // read from the restored tree below: the last snapshot
	time.Sleep(outage)
	buffered, _ := filepath.Glob(filepath.Join(dir, "buffer", "*.batch"))
	d.Start()
	before = getNumber(t, d.URL(), key)
	waitUntil(t, time.Minute, "the agent to push again", func() bool { return strings.Contains(out.String(), "pushing to "+d.URL()+" again") })
	time.Sleep(3 * time.Second)
	agent.Process.Signal(syscall.SIGTERM)
	agent.Wait()
	stopped = true

	text := out.String()
	i := strings.Index(text, "stopped:")
	if i < 0 {
		t.Fatalf("no summary in the agent's output:\n%s", text)
	}
	var sent, dropped, pending, rounds int
	if _, err := fmt.Sscanf(text[i:], "stopped: %d batches sent, %d dropped, %d pending, %d collection rounds", &sent, &dropped, &pending, &rounds); err != nil {
		t.Fatalf("cannot read the agent's summary %q: %v", text[i:], err)
	}
	beats := int(getNumber(t, d.URL(), key))
	t.Logf("agent: %d rounds, %d batches sent, %d dropped, %d pending, %d buffered in the outage; tree: %d beats (%v at restart)", rounds, sent, dropped, pending, len(buffered), beats, before)
	if len(buffered) < int(outage/time.Second)*3/4 {
		t.Errorf("only %d batches buffered during a %v outage at 1 s intervals", len(buffered), outage)
	}
	if dropped != 0 || pending != 0 {
		t.Errorf("agent dropped %d, left %d pending; want 0, 0", dropped, pending)
	}
	lost, twice := max(rounds-beats, 0), max(beats-rounds, 0)
	if lost != 0 || twice != 0 {
		t.Errorf("tree counted %d beats for %d rounds: %d lost, %d twice", beats, rounds, lost, twice)
	}
	report(t, "daemon down %v: %d batches buffered, %d beats arrived after the restart; %d rounds = %d in the tree: %d lost, %d twice", outage, len(buffered), beats-int(before), rounds, beats, lost, twice)
}

// waitUntil polls ok every 100 ms until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}
