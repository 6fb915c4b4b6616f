// Command goaccess compares canopy with GoAccess on the same generated
// access log, in one run: it times GoAccess's JSON report and `canopyd
// replay` with every built-in pipe (geo on its test database) of the same
// file, prints both rates and their ratio, and cross-checks the total of
// valid requests and every status code count. Then it times the daemon
// following the log as it grows: a writer appends the same lines as fast as
// it can to a file canopyd follows, each line stamped with the time of its
// write (-follow-stamp=false keeps the generated times: a backlog), until
// the tree counts every request (same cross-check). -workers 1,2 runs both canopy sides once per
// -pipes.workers value, for the scaling of one busy log. -cpuprofile keeps
// CPU profiles of the replay and of the follow run (FILE.follow) and
// prints their top functions. Run it with
// `go tool -modfile=tools/go.mod task bench:goaccess`.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/canopy-dev/canopy/daemon/goaccess"
	pipeswasm "github.com/canopy-dev/canopy/pipes-wasm"
)

func main() {
	n := flag.Int("n", 1_000_000, "lines to generate")
	bad := flag.Float64("bad", 0.001, "fraction of malformed lines")
	dir := flag.String("dir", "", "work folder (default: a temporary one, removed afterwards)")
	pipesDir := flag.String("pipes", "", "pipes folder for canopyd, besides the built-in pipes (replacing those of the same name)")
	target := flag.Float64("target", 20, "canopy/GoAccess lines-per-second ratio to reach")
	profile := flag.String("cpuprofile", "", "write a CPU profile of canopyd's replay here (and of the follow run to FILE.follow) and print their top functions")
	follow := flag.Bool("follow", true, "also time canopyd following the log as a writer appends it")
	stamp := flag.Bool("follow-stamp", true, "the writer stamps each line with the time it appends it, as a live server does (false: the generated times, three days past, which canopyd dates as a backlog interval by interval)")
	followTarget := flag.Float64("follow-target", 15, "canopy following/GoAccess lines-per-second ratio to reach")
	workers := flag.String("workers", "0", "comma-separated -pipes.workers values to run canopyd with, each in turn (0: the number of CPUs)")
	flag.Parse()
	log.SetFlags(0)
	var ws []int
	for _, f := range strings.Split(*workers, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 0 {
			log.Fatalf("bench:goaccess: -workers %q: want numbers >= 0", *workers)
		}
		ws = append(ws, w)
	}
	b := bench{n: *n, bad: *bad, dir: *dir, pipesDir: *pipesDir, target: *target, profile: *profile,
		follow: *follow, followTarget: *followTarget, stamp: *stamp, workers: ws}
	if err := b.run(); err != nil {
		log.Fatalf("bench:goaccess: %v", err)
	}
}

type bench struct {
	n                    int
	bad                  float64
	dir, pipesDir        string
	target, followTarget float64
	profile              string
	follow, stamp        bool
	workers              []int
}

type timing struct {
	wall, cpu time.Duration
}

func (t timing) rate(n int) float64   { return float64(n) / t.wall.Seconds() }
func (t timing) perCPU(n int) float64 { return float64(n) / t.cpu.Seconds() }
func verdict(ratio, target float64) string {
	if ratio < target {
		return "NOT MET"
	}
	return "MET"
}

func timed(cmd *exec.Cmd) (timing, error) {
	start := time.Now()
	err := cmd.Run()
	t := timing{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			t.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return t, err
}

// repoRoot is the module's folder, from this file's path (go run keeps it).
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", fmt.Errorf("cannot find the repository from %q: run with go run ./bench/goaccess", file)
	}
	return filepath.Join(filepath.Dir(file), "..", ".."), nil
}

func (b *bench) run() error {
	n, dir := b.n, b.dir
	root, err := repoRoot()
	if err != nil {
		return err
	}
	profile := b.profile
	if profile != "" {
		if profile, err = filepath.Abs(profile); err != nil {
			return err
		}
		b.profile = profile
	}
	gaBin, err := goaccess.Command(log.Printf)
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-goaccess-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	bin := filepath.Join(dir, "canopyd")
	build := exec.Command("go", "build", "-o", bin, "./daemon")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./daemon: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "access.log")
	gen := exec.Command(bin, "gen", "-n", strconv.Itoa(n), "-seed", "1", "-format", "combined", "-bad", fmt.Sprint(b.bad), "-o", logPath)
	gen.Stderr = os.Stderr
	if err := gen.Run(); err != nil {
		return fmt.Errorf("canopyd gen: %w", err)
	}
	fi, _ := os.Stat(logPath)
	log.Printf("generated %d lines (%.0f MB) in %s", n, float64(fi.Size())/1e6, logPath)

	data := filepath.Join(dir, "data")
	// Every built-in pipe: geo too, on its test database (a few networks:
	// most clients miss, but each line is looked up).
	conf := filepath.Join(dir, "canopyd.yaml")
	mmdb := filepath.Join(root, "pipes-src", "geo", "testdata", "GeoLite2-Country.mmdb")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "pipes:\n  config:\n    geo:\n      read_files: [%q]\n      params: {database: %q}\n", mmdb, mmdb), 0o644); err != nil {
		return err
	}
	replayArgs := []string{"replay", "-log-format", "combined", "-print", "-progress", "none", "-data", data, "-config", conf}
	if b.pipesDir != "" {
		replayArgs = append(replayArgs, "-pipes", b.pipesDir)
	}
	// Warm the WASM compilation cache once, as a running daemon would have.
	warm := filepath.Join(dir, "warm.log")
	os.WriteFile(warm, []byte(`127.0.0.1 - - [05/Jan/2026:00:00:00 +0800] "GET / HTTP/1.1" 200 1 "-" "curl/8.0"`+"\n"), 0o644)
	wout, err := exec.Command(bin, append(replayArgs, warm)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("canopyd replay (warm-up): %v\n%s", err, wout)
	}
	ran, err := pipesRun(string(wout))
	if err != nil {
		return err
	}

	// GoAccess: its JSON report, as a user would make it.
	report := filepath.Join(dir, "report.json")
	gcmd := exec.Command(gaBin, logPath, "--log-format=COMBINED", "--no-global-config", "-o", report)
	gout := &strings.Builder{}
	gcmd.Stdout, gcmd.Stderr = gout, gout
	gt, err := timed(gcmd)
	if err != nil {
		return fmt.Errorf("goaccess: %v\n%s", err, tail(gout.String()))
	}
	rep, err := goaccess.ReadReport(report)
	if err != nil {
		return err
	}
	fmt.Printf("\n%d lines, %s; canopyd runs %d pipes: %s\n", n, logPath, len(ran), strings.Join(ran, " "))
	fmt.Printf("GoAccess JSON report:  %7.2fs wall %7.2fs CPU  %9.0f lines/s (%9.0f lines per CPU-second)\n", gt.wall.Seconds(), gt.cpu.Seconds(), gt.rate(n), gt.perCPU(n))

	type result struct{ replay, follow timing }
	results := map[int]result{}
	for _, w := range b.workers {
		label := ""
		args := replayArgs
		if w > 0 {
			label = fmt.Sprintf(" -pipes.workers=%d", w)
			args = append(args, fmt.Sprintf("-pipes.workers=%d", w))
		}
		// canopy: replay of the same file through every pipe.
		out := filepath.Join(dir, "tree.json")
		of, err := os.Create(out)
		if err != nil {
			return err
		}
		if profile != "" {
			args = append(args, "-cpuprofile", profile)
		}
		ccmd := exec.Command(bin, append(args, logPath)...)
		cerr := &strings.Builder{}
		ccmd.Stdout, ccmd.Stderr = of, cerr
		ct, err := timed(ccmd)
		of.Close()
		if err != nil {
			return fmt.Errorf("canopyd replay: %v\n%s", err, tail(cerr.String()))
		}
		fmt.Printf("\ncanopyd replay%s: %7.2fs wall %7.2fs CPU  %9.0f lines/s (%9.0f lines per CPU-second), whole process incl. loading pipes\n", label, ct.wall.Seconds(), ct.cpu.Seconds(), ct.rate(n), ct.perCPU(n))
		if s := replayLine(cerr.String()); s != "" {
			fmt.Printf("                       %s\n", s)
		}
		ratio := ct.rate(n) / gt.rate(n)
		fmt.Printf("ratio canopy/GoAccess: %.2fx lines/s wall (target >= %.0fx: %s); %.2fx lines per CPU-second\n", ratio, b.target, verdict(ratio, b.target), gt.cpu.Seconds()/ct.cpu.Seconds())
		if err := crossCheck(rep, out); err != nil {
			return err
		}
		// The scaling compares the replay's own time, without loading.
		r := result{replay: timing{wall: replayTime(cerr.String()), cpu: ct.cpu}}
		if b.follow {
			ft, err := b.followRun(bin, dir, conf, filepath.Join(data, "wasm-cache"), logPath, w, rep, out)
			if err != nil {
				return err
			}
			fmt.Printf("canopyd following%s: %7.2fs wall %7.2fs CPU  %9.0f lines/s (%9.0f lines per CPU-second), from the first line written to the last counted\n", label, ft.wall.Seconds(), ft.cpu.Seconds(), ft.rate(n), ft.perCPU(n))
			ratio := ft.rate(n) / gt.rate(n)
			fmt.Printf("ratio canopy following/GoAccess: %.2fx lines/s wall (target >= %.0fx: %s); %.2fx lines per CPU-second\n", ratio, b.followTarget, verdict(ratio, b.followTarget), gt.cpu.Seconds()/ft.cpu.Seconds())
			if err := crossCheck(rep, out); err != nil {
				return err
			}
			r.follow = ft
		}
		results[w] = r
	}
	if one, ok := results[1]; ok {
		for _, w := range b.workers {
			if w <= 1 {
				continue
			}
			r := results[w]
			fmt.Printf("\nscaling -pipes.workers=%d over 1: replay %.2fx lines/s wall (the replay alone), %.2fx lines per CPU-second (whole process)", w, r.replay.rate(n)/one.replay.rate(n), r.replay.perCPU(n)/one.replay.perCPU(n))
			if b.follow {
				fmt.Printf("; following %.2fx lines/s wall, %.2fx lines per CPU-second", r.follow.rate(n)/one.follow.rate(n), r.follow.perCPU(n)/one.follow.perCPU(n))
			}
			fmt.Println()
		}
	}
	if profile != "" {
		profiles := [][2]string{{"the replay", profile}}
		if b.follow {
			profiles = append(profiles, [2]string{"canopyd following", b.followProfile()})
		}
		for _, p := range profiles {
			top := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", bin, p[1])
			top.Dir = root
			pout, err := top.CombinedOutput()
			if err != nil {
				return fmt.Errorf("go tool pprof: %v\n%s", err, pout)
			}
			fmt.Printf("\nCPU profile of %s (%s):\n%s", p[0], p[1], pout)
		}
	}
	return nil
}

// pipesRun lists the pipes a replay's log says it loaded and checks that
// they are all the built-in ones.
func pipesRun(log string) ([]string, error) {
	var ran []string
	for _, l := range strings.Split(log, "\n") {
		if _, rest, ok := strings.Cut(l, "pipe "); ok {
			if name, _, ok := strings.Cut(rest, ".wasm loaded from "); ok && !strings.Contains(name, " ") {
				ran = append(ran, name)
			}
		}
	}
	ents, err := fs.ReadDir(pipeswasm.Pipes(), ".")
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if !ok { // NAME.units.json beside NAME.wasm
			continue
		}
		if !slices.Contains(ran, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("built-in pipes not running in canopyd replay: %s\n%s", strings.Join(missing, " "), tail(log))
	}
	slices.Sort(ran)
	return ran, nil
}

func replayLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "canopyd replay:") {
			return strings.TrimPrefix(l, "canopyd ")
		}
	}
	return ""
}

// replayTime is the replay's own time from its summary line ("… in
// 1.23s: …"), 0 when missing.
func replayTime(stderr string) time.Duration {
	_, rest, ok := strings.Cut(replayLine(stderr), " in ")
	if !ok {
		return 0
	}
	secs, _, _ := strings.Cut(rest, "s:")
	f, err := strconv.ParseFloat(secs, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// crossCheck compares GoAccess's valid requests and status codes with
// canopy's `requests` and `status,<code>`.
func crossCheck(rep *goaccess.Report, treePath string) error {
	tree, err := goaccess.ReadTree(treePath)
	if err != nil {
		return err
	}
	mismatches := 0
	check := func(what string, g int64, c float64) {
		mark := "ok"
		if float64(g) != c {
			mark = "MISMATCH"
			mismatches++
		}
		fmt.Printf("  %-22s GoAccess %9d  canopy %9.0f  %s\n", what, g, c, mark)
	}
	fmt.Printf("cross-check (GoAccess failed_requests %d, total %d):\n", rep.General.Failed, rep.General.Total)
	check("requests (valid)", rep.General.Valid, tree["requests"])
	codes := rep.StatusHits()
	for k := range tree {
		if code, ok := strings.CutPrefix(k, "status,"); ok {
			if _, seen := codes[code]; !seen {
				codes[code] = 0
			}
		}
	}
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		check("status "+k, codes[k], tree["status,"+k])
	}
	if mismatches > 0 {
		return fmt.Errorf("%d counts differ from GoAccess", mismatches)
	}
	fmt.Println("cross-check: total requests and every status code equal GoAccess's exactly")
	return nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
