package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

// mountTmpfs mounts a tmpfs of size MiB at a new folder (options added)
// and unmounts it at the end. It needs root, as CI has.
func mountTmpfs(t *testing.T, size int, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("TestStorageFaults mounts tmpfs and needs root")
		}
		t.Skip("mounting a tmpfs needs root (CI runs as root)")
	}
	dir := t.TempDir()
	o := fmt.Sprintf("size=%dm", size)
	if opts != "" {
		o += "," + opts
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", o, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs at %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	var st syscall.Statfs_t
	must(t, syscall.Statfs(dir, &st))
	return int64(st.Bavail) * st.Bsize
}

// fill writes zeros to path until dir has at most left bytes free.
func fill(t *testing.T, dir, path string, left int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(t, err)
	defer f.Close()
	buf := make([]byte, 64<<10)
	for freeBytes(t, dir) > left {
		if _, err := f.Write(buf); err != nil {
			return // full
		}
	}
}

// TestStorageFaults: a read-only data folder stops canopyd at start with
// one clear line and a non-zero exit, every time (no crash loop); a disk
// that fills while it runs puts it in a degraded mode that /status and
// /metrics show, the live tree keeps being served and updated, nothing
// is counted as stored that was not, and freeing space ends it.
func TestStorageFaults(t *testing.T) {
	bin := testenv.BuildCanopyd(t)
	base := []string{"-pipes.builtin=false", "-default-source=false", "-pipes.cache", filepath.Join(os.TempDir(), "canopy-test-wasm-cache")}

	// Read-only: a fresh folder, and one a run has filled, remounted.
	empty := mountTmpfs(t, 8, "ro")
	used := mountTmpfs(t, 64, "")
	p := testenv.StartCanopyd(t, bin, append([]string{"-data", used}, base...)...)
	if code, b, _ := do(t, "POST", p.URL()+"/push", strings.NewReader(`{"ok":{"a":1}}`)); code != 200 {
		t.Fatalf("push: %d %s", code, b)
	}
	p.Stop()
	if out, err := exec.Command("mount", "-o", "remount,ro", used).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	clear := 0
	var sample string
	for _, dir := range []string{empty, used} {
		for try := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			out, err := exec.CommandContext(ctx, bin, append([]string{"-listen", testenv.FreePort(t), "-data", dir}, base...)...).CombinedOutput()
			cancel()
			var errLines []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if strings.HasPrefix(l, "canopyd: ") {
					errLines = append(errLines, l)
				}
			}
			ee, exited := err.(*exec.ExitError)
			switch {
			case !exited || ee.ExitCode() == 0:
				t.Errorf("%s try %d: canopyd did not exit non-zero: %v\n%s", dir, try, err, out)
			case len(errLines) != 1 || !strings.Contains(errLines[0], "read-only file system") || strings.Contains(string(out), "panic"):
				t.Errorf("%s try %d: want one line saying the folder is read-only, got:\n%s", dir, try, out)
			default:
				clear++
				sample = errLines[0]
			}
		}
	}
	t.Logf("read-only: %s", sample)
	report(t, "read-only data folder (fresh, and used then remounted ro): %d/6 starts exit 1 with one line (%q), no panic, same every time", clear, trunc(strings.TrimPrefix(sample, "canopyd: "), 70))

	t.Run("DiskFull", func(t *testing.T) { diskFull(t, bin, base) })
}

func diskFull(t *testing.T, bin string, base []string) {
	dir := mountTmpfs(t, 64, "")
	d := testenv.StartCanopyd(t, bin, append([]string{"-data", dir, "-snapshot.interval", "1s", "-trend.interval", "1s"}, base...)...)
	url := d.URL()
	if code, b, _ := do(t, "POST", url+"/push", strings.NewReader(`{"ok":{"a":1}}`)); code != 200 {
		t.Fatalf("push: %d %s", code, b)
	}
	time.Sleep(3 * time.Second) // a snapshot and a trend tick on a healthy disk
	// Under the trend store's free-space floor first (it turns read-only
	// within a second), then completely full.
	fill(t, dir, filepath.Join(dir, "filler1"), 8<<20)
	time.Sleep(3 * time.Second)
	fill(t, dir, filepath.Join(dir, "filler2"), 0)
	time.Sleep(3 * time.Second)
	full := time.Now()
	st := status(t, url)
	written := st["trend"].(map[string]any)["points_written"].(float64)
	pushes := 0
	for i := range 20 {
		if code, b, _ := do(t, "POST", url+"/push", strings.NewReader(fmt.Sprintf(`{"ok":{"a":1,"n%d":1}}`, i))); code != 200 {
			t.Errorf("push on a full disk: %d %s", code, b)
		}
		pushes++
		time.Sleep(200 * time.Millisecond)
	}
	st = status(t, url)
	tr := st["trend"].(map[string]any)
	snap := st["snapshot"].(map[string]any)
	why := fmt.Sprint(st["degraded"])
	if !strings.Contains(why, "snapshots fail") || !strings.Contains(why, "trend storage disk is full") {
		t.Errorf("/status degraded = %v, want the snapshot and the trend store named", st["degraded"])
	}
	if tr["disk_full"] != true || tr["points_written"].(float64) != written {
		t.Errorf("trend: disk_full %v, points_written %v (was %v when the disk filled): want true and unchanged", tr["disk_full"], tr["points_written"], written)
	}
	if last := snap["last_success_unix"].(float64); last >= float64(full.Unix()) || !strings.Contains(fmt.Sprint(snap["error"]), "no space left") {
		t.Errorf("snapshot = %v: want no success since the disk filled (%d) and the error", snap, full.Unix())
	}
	for _, m := range []string{"canopy_degraded", "canopy_trend_disk_full", "canopy_snapshot_failures_total"} {
		if v, ok := metricValue(t, url, m); !ok || v < 1 {
			t.Errorf("/metrics %s = %v (found %v), want at least 1", m, v, ok)
		}
	}
	if v := getNumber(t, url, "ok,a"); v != float64(1+pushes) {
		t.Errorf("ok,a = %v, want %d: the live tree must keep taking pushes", v, 1+pushes)
	}
	fails := snap["failures"].(float64)

	// Space freed: both recover on their own.
	must(t, os.Remove(filepath.Join(dir, "filler1")))
	must(t, os.Remove(filepath.Join(dir, "filler2")))
	var recovered time.Duration
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(200 * time.Millisecond) {
		if st = status(t, url); st["degraded"] == nil {
			recovered = time.Since(start)
			break
		}
	}
	if recovered == 0 {
		t.Errorf("still degraded 30 s after space was freed: %v", st["degraded"])
	}
	report(t, "disk full under a live daemon: /status degraded (snapshot + trend), canopy_degraded 1; %d pushes served and counted live; 0 points or snapshots reported stored while full (%.0f snapshot failures); recovered %.1fs after space was freed", pushes, fails, recovered.Seconds())
}
