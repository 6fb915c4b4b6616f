package pipeswasm

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/daemon/goaccess"
	"github.com/canopy-dev/canopy/daemon/loggen"
	"github.com/canopy-dev/canopy/daemon/testenv"
	"github.com/canopy-dev/canopy/sdk/pipetest"
)

// gaLogFormat is loggen.VCombinedFormat in GoAccess's notation.
const gaLogFormat = `%v %h %^[%d:%t %^] "%r" %s %b "%R" "%u"`

// gaConfig is canopy's side of the comparison: the top-N caps lifted so
// every item has its own exact key (with the default caps an item admitted
// late holds its certain hits only and the rest stays in _other; the
// pipes' own tests check that), and own-site referrers counted as GoAccess
// counts them.
const gaConfig = `pipes:
  config:
    hosts: {params: {top: "10000000", max_keys: "10000000", capacity: "10000000"}}
    referrers: {params: {top: "10000000", max_keys: "10000000", capacity: "10000000", exclude_own_host: "false"}}
    requests: {params: {top: "10000000", max_keys: "10000000", capacity: "10000000"}}
    vhosts: {params: {top: "10000000", max_keys: "10000000", capacity: "10000000"}}
`

// gaBoundedConfig is gaConfig with the default caps: the lists are
// checked for what topn promises (difference 10).
const gaBoundedConfig = `pipes:
  config:
    referrers: {params: {exclude_own_host: "false"}}
`

// gaDifferences are the places canopy's definitions differ from GoAccess's
// on purpose, each with what the test does about it. The table the test
// prints names them by their number.
var gaDifferences = []string{
	1:  "URL keys: GoAccess keys a request by URL+method+protocol and keeps the query unless -q; canopy keys the path (the query is a field of its own). GoAccess runs with -q and its rows are summed per path.",
	2:  "Static files: canopy's default extension list (requests.DefaultStatic) is not GoAccess's built-in one (which lacks .js, .svg, .ttf …); GoAccess is given canopy's list with --static-file.",
	3:  "Virtual hosts: canopy lower-cases the host (Host is case-insensitive, RFC 9110 §4.2.3); GoAccess keeps the spelling. GoAccess's rows are summed per lower-cased host.",
	4:  "Own-site referrers: canopy drops referrers naming the line's own $host by default (exclude_own_host); GoAccess counts them. The test sets exclude_own_host: false.",
	5:  "Client addresses: canopy writes IPv6 canonically (RFC 5952) and IPv4-mapped IPv6 as IPv4; GoAccess as logged. GoAccess's rows are keyed canonically.",
	6:  "Failed lines: canopy's replay counts bad lines, over-long lines and invalid UTF-8 apart (all three are GoAccess's failed requests) and prints them, they are not in the tree.",
	7:  "Unique visitors: canopy writes one count per day (visitors,day,…); GoAccess's overview total is the sum over days.",
	8:  "Protocols: GoAccess writes HTTP/2.0 as HTTP/2 (RFC 9113's name); canopy keeps what nginx logged. GoAccess's HTTP/2 and HTTP/3 rows are keyed HTTP/2.0 and HTTP/3.0.",
	9:  "Referrer URLs: GoAccess lists lines without a referrer as a row \"-\"; canopy does not count them. That row is left out.",
	11: "Zero bytes: canopy writes no bytes key for an item that was sent 0 bytes (a tree key is a change, and 0 is none); GoAccess lists it with 0. Those rows are left out.",
	10: "Bounded lists: canopy keeps the top items of hosts, referrers, requests and vhosts (pipes-src/internal/topn; the rest under _other, an item admitted late holds its certain hits); GoAccess keeps every item. The test lifts the caps (gaConfig) so every item has its exact key, and checks a second replay with the default caps for what topn promises: keys plus _other sum to GoAccess's total exactly, no key above GoAccess's count, GoAccess's top 10 all keyed.",
}

// gaRow is one line of the printed table.
type gaRow struct {
	panel, ga, canopy, result string
}

// TestGoAccessPanels is the differential test against GoAccess: one
// generated log (several sites and days, IPv4 and IPv6, referrers, static
// files, 404s, malformed lines) through `goaccess -o json` and through
// `canopyd replay` with the built-in pipes, compared panel by panel. Every
// count must be equal; where the definitions differ on purpose
// (gaDifferences) GoAccess's rows are mapped onto canopy's keys by that
// rule, and the comparison stays exact.
func TestGoAccessPanels(t *testing.T) {
	gaBin := testenv.NeedCommand(t, "goaccess", "goaccess")
	bin := testenv.BuildCanopyd(t)
	dir := t.TempDir()

	// 20,000 lines over 3 days from noon (4 dates): about 3,300 visitors a
	// day, below the visitors pipe's exact limit (4,096 a day).
	logPath := filepath.Join(dir, "access.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 5, 12, 0, 0, 0, time.FixedZone("", 8*3600))
	if _, err := loggen.Write(f, loggen.Config{Lines: 20000, Seed: 1, Format: "vcombined", Bad: 0.002, Start: start, Span: 72 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// GoAccess.
	static := defaultStatic(t)
	report := filepath.Join(dir, "report.json")
	args := []string{logPath, "--log-format=" + gaLogFormat, "--date-format=%d/%b/%Y", "--time-format=%T",
		"--no-global-config", "-q", "--max-items=10000000", "-o", report}
	for _, e := range static {
		args = append(args, "--static-file="+e)
	}
	if out, err := exec.Command(gaBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("goaccess: %v\n%s", err, out)
	}
	rep, err := goaccess.ReadReport(report)
	if err != nil {
		t.Fatal(err)
	}

	// canopy.
	replay := func(name, config string) (map[string]float64, string) {
		t.Helper()
		conf := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		treePath := filepath.Join(dir, name+".json")
		out, err := os.Create(treePath)
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd := exec.Command(bin, "replay", "-log-format", loggen.VCombinedFormat, "-print", "-progress", "none",
			"-data", filepath.Join(dir, "data-"+name), "-pipes.cache", pipetest.CacheDir(), "-config", conf, logPath)
		cmd.Stdout, cmd.Stderr = out, &stderr
		err = cmd.Run()
		out.Close()
		if err != nil {
			t.Fatalf("canopyd replay: %v\n%s", err, stderr.String())
		}
		tree, err := goaccess.ReadTree(treePath)
		if err != nil {
			t.Fatal(err)
		}
		return tree, stderr.String()
	}
	tree, stderr := replay("exact", gaConfig)
	bounded, _ := replay("bounded", gaBoundedConfig)
	m := regexp.MustCompile(`canopyd replay: (\d+) lines \((\d+) bad, (\d+) too long, (\d+) invalid UTF-8\)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line from canopyd replay:\n%s", stderr)
	}
	n := make([]int64, 5)
	for i := 1; i < 5; i++ {
		n[i], _ = strconv.ParseInt(m[i], 10, 64)
	}

	var rows []gaRow
	scalar := func(panel string, ga, canopy float64, diff ...int) {
		res := "equal"
		if ga != canopy {
			res = "MISMATCH"
			t.Errorf("%s: GoAccess %v, canopy %v", panel, ga, canopy)
		}
		if res == "equal" {
			res += differences(diff)
		}
		rows = append(rows, gaRow{panel, strconv.FormatFloat(ga, 'f', -1, 64), strconv.FormatFloat(canopy, 'f', -1, 64), res})
	}
	// items compares one panel item by item: ga's keys are canopy's key
	// suffixes under prefix (keys deeper than prefix+name are not items).
	items := func(panel string, ga map[string]int64, prefix string, diff ...int) {
		got := map[string]int64{}
		for k, v := range tree {
			if name, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(name, ",") {
				got[name] = int64(v)
			}
		}
		var bad []string
		for _, k := range slices.Sorted(maps.Keys(unionKeys(ga, got))) {
			if ga[k] != got[k] {
				bad = append(bad, fmt.Sprintf("%s: GoAccess %d, canopy %d", k, ga[k], got[k]))
			}
		}
		res := "equal" + differences(diff)
		if len(bad) > 0 {
			res = fmt.Sprintf("MISMATCH (%d items)", len(bad))
			if len(bad) > 10 {
				bad = append(bad[:10], "…")
			}
			t.Errorf("%s: %d of %d items differ:\n  %s", panel, len(bad), len(ga), strings.Join(bad, "\n  "))
		}
		if len(ga) == 0 {
			t.Errorf("%s: GoAccess has no rows: the generated log lacks what the panel counts", panel)
		}
		rows = append(rows, gaRow{panel, summary(ga), summary(got), res})
	}

	g := rep.General
	scalar("total requests", float64(g.Total), float64(n[1]+n[3]+n[4]), 6)
	scalar("valid requests", float64(g.Valid), tree["requests"])
	scalar("failed requests", float64(g.Failed), float64(n[2]+n[3]+n[4]), 6)
	scalar("bandwidth (bytes)", float64(g.Bandwidth), tree["bytes,total"])

	days := map[string]int64{}
	dayHits := map[string]int64{}
	dayBytes := map[string]int64{}
	var uniques int64
	for _, it := range rep.Visitors.Data {
		d := it.Data[:4] + "-" + it.Data[4:6] + "-" + it.Data[6:]
		days[d] = it.Visitors.Count
		dayHits[d] = it.Hits.Count
		dayBytes[d] = it.Bytes.Count
		uniques += it.Visitors.Count
		if it.Visitors.Count >= 4096 {
			t.Errorf("%s has %d visitors, past the visitors pipe's exact limit (4096): make the log smaller", d, it.Visitors.Count)
		}
	}
	canopyUniques := 0.0
	for k, v := range tree {
		if strings.HasPrefix(k, "visitors,day,") {
			canopyUniques += v
		}
	}
	scalar("unique visitors (sum of days)", float64(uniques), canopyUniques, 7)
	items("unique visitors per day", days, "visitors,day,")
	items("hits per day", dayHits, "visitors,hits,")
	items("bytes per day", nonZero(dayBytes), "visitors,bytes,", 11)

	items("status codes", rep.StatusHits(), "status,")

	methods, protocols := map[string]int64{}, map[string]int64{}
	for _, p := range []goaccess.Panel{rep.Requests, rep.Static, rep.NotFound} {
		for _, it := range p.Data {
			methods[it.Method] += it.Hits.Count
			proto := it.Protocol
			if proto == "HTTP/2" || proto == "HTTP/3" {
				proto += ".0"
			}
			protocols[proto] += it.Hits.Count
		}
	}
	items("methods", methods, "req,method,")
	items("protocols", protocols, "req,protocol,", 8)

	items("requested URLs (pages)", rep.Requests.Hits(goaccess.ByData), "req,page,", 1, 10)
	items("static URLs", rep.Static.Hits(goaccess.ByData), "req,static,", 2, 10)
	items("not-found URLs", rep.NotFound.Hits(goaccess.ByData), "req,notfound,", 1, 10)
	scalar("requested URLs total", float64(sum(rep.Requests)), tree["req,page"])
	scalar("static URLs total", float64(sum(rep.Static)), tree["req,static"])
	scalar("not-found URLs total", float64(sum(rep.NotFound)), tree["req,notfound"])

	// A mapping must have had rows to map, or its difference is untested.
	for _, c := range []struct {
		what    string
		p       goaccess.Panel
		changed func(goaccess.Item) bool
	}{
		{"hosts not written canonically (difference 5)", rep.Hosts, func(it goaccess.Item) bool { return canonicalIP(it) != it.Data }},
		{"virtual hosts not in lower case (difference 3)", rep.VirtualHosts, func(it goaccess.Item) bool { return strings.ToLower(it.Data) != it.Data }},
		{"HTTP/2 requests (difference 8)", rep.Requests, func(it goaccess.Item) bool { return it.Protocol == "HTTP/2" }},
	} {
		if !slices.ContainsFunc(c.p.Data, c.changed) {
			t.Errorf("GoAccess's report has no %s: the generated log lacks them", c.what)
		}
	}
	items("hosts (hits)", rep.Hosts.Hits(canonicalIP), "hosts,hits,", 5, 10)
	items("hosts (bytes)", nonZero(rep.Hosts.Bytes(canonicalIP)), "hosts,bytes,", 5, 10, 11)
	lower := func(it goaccess.Item) string { return strings.ToLower(it.Data) }
	items("virtual hosts (hits)", rep.VirtualHosts.Hits(lower), "vhosts,hits,", 3, 10)
	items("virtual hosts (bytes)", nonZero(rep.VirtualHosts.Bytes(lower)), "vhosts,bytes,", 3, 10, 11)
	items("referring sites", rep.ReferringSites.Hits(goaccess.ByData), "ref,site,", 4, 10)
	items("referrer URLs", rep.Referrers.Hits(func(it goaccess.Item) string {
		if it.Data == "-" {
			return ""
		}
		return it.Data
	}), "ref,url,", 9, 10)
	items("hour of day", rep.VisitTime.Hits(goaccess.ByData), "time,hour,")

	// The same lists with the default caps.
	boundedList := func(panel string, ga map[string]int64, prefix string) {
		got := map[string]int64{}
		var total int64
		for k, v := range bounded {
			if name, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(name, ",") {
				got[name] = int64(v)
				total += int64(v)
			}
		}
		var gaTotal int64
		for _, v := range ga {
			gaTotal += v
		}
		var bad []string
		if total != gaTotal {
			bad = append(bad, fmt.Sprintf("keys and _other sum to %d, GoAccess's total is %d", total, gaTotal))
		}
		exact := 0
		for k, v := range got {
			switch {
			case k == "_other":
			case v > ga[k]:
				bad = append(bad, fmt.Sprintf("%s: %d, above GoAccess's %d", k, v, ga[k]))
			case v == ga[k]:
				exact++
			}
		}
		byHits := slices.SortedFunc(maps.Keys(ga), func(a, b string) int {
			if ga[a] != ga[b] {
				return int(ga[b] - ga[a])
			}
			return strings.Compare(a, b)
		})
		for _, k := range byHits[:min(10, len(byHits))] {
			if _, ok := got[k]; !ok {
				bad = append(bad, fmt.Sprintf("%s (GoAccess's top 10, %d hits) has no key", k, ga[k]))
			}
		}
		keys := len(got)
		if _, ok := got["_other"]; ok {
			keys--
		}
		res := fmt.Sprintf("sum equal, %d of %d keys exact, none above, top 10 keyed (differences 10)", exact, keys)
		if len(bad) > 0 {
			res = fmt.Sprintf("MISMATCH (%d)", len(bad))
			t.Errorf("%s: %s", panel, strings.Join(bad, "; "))
		}
		rows = append(rows, gaRow{panel, summary(ga), fmt.Sprintf("%d keys + _other %d", keys, got["_other"]), res})
	}
	boundedList("hosts (hits), default caps", rep.Hosts.Hits(canonicalIP), "hosts,hits,")
	boundedList("requested URLs, default caps", rep.Requests.Hits(goaccess.ByData), "req,page,")
	boundedList("not-found URLs, default caps", rep.NotFound.Hits(goaccess.ByData), "req,notfound,")
	boundedList("referrer URLs, default caps", rep.Referrers.Hits(func(it goaccess.Item) string {
		if it.Data == "-" {
			return ""
		}
		return it.Data
	}), "ref,url,")

	// The table for the closing note.
	var b strings.Builder
	fmt.Fprintf(&b, "\n| panel | goaccess | canopy | result |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.panel, r.ga, r.canopy, r.result)
	}
	fmt.Fprintf(&b, "\nDifferences by definition:\n")
	for i, d := range gaDifferences[1:] {
		fmt.Fprintf(&b, "%d. %s\n", i+1, d)
	}
	t.Log(b.String())
}

// defaultStatic reads the requests pipe's DefaultStatic extension list
// from its source (a main package cannot be imported).
func defaultStatic(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "../pipes-src/requests/main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range file.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if len(vs.Names) == 1 && vs.Names[0].Name == "DefaultStatic" && len(vs.Values) == 1 {
				tv, err := types.Eval(fset, nil, token.NoPos, types.ExprString(vs.Values[0]))
				if err != nil || tv.Value == nil || tv.Value.Kind() != constant.String {
					t.Fatalf("cannot evaluate requests.DefaultStatic: %v", err)
				}
				return strings.Split(constant.StringVal(tv.Value), ",")
			}
		}
	}
	t.Fatal("no DefaultStatic const in pipes-src/requests/main.go")
	return nil
}

// canonicalIP keys a GoAccess host row as the hosts pipe writes it.
func canonicalIP(it goaccess.Item) string {
	a, err := netip.ParseAddr(it.Data)
	if err != nil {
		return it.Data
	}
	return a.Unmap().String()
}

// nonZero drops the rows of m that are 0.
func nonZero(m map[string]int64) map[string]int64 {
	maps.DeleteFunc(m, func(_ string, v int64) bool { return v == 0 })
	return m
}

func sum(p goaccess.Panel) int64 {
	var n int64
	for _, it := range p.Data {
		n += it.Hits.Count
	}
	return n
}

func unionKeys(a, b map[string]int64) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// differences names the gaDifferences a row depends on.
func differences(d []int) string {
	if len(d) == 0 {
		return ""
	}
	s := make([]string, len(d))
	for i, n := range d {
		s[i] = strconv.Itoa(n)
	}
	return " (differences " + strings.Join(s, ", ") + ")"
}

// summary describes one panel's items: how many and their sum.
func summary(m map[string]int64) string {
	var n int64
	for _, v := range m {
		n += v
	}
	return fmt.Sprintf("%d items, sum %d", len(m), n)
}
