// Package goaccess runs GoAccess on a log and reads its JSON report
// (`goaccess -o report.json`), and reads the flat tree `canopyd replay
// -print` writes, so bench:goaccess and the differential test of the
// built-in pipes compare the same things the same way.
package goaccess

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Report is the part of GoAccess's JSON report the comparisons read.
type Report struct {
	General struct {
		Total     int64 `json:"total_requests"`
		Valid     int64 `json:"valid_requests"`
		Failed    int64 `json:"failed_requests"`
		Visitors  int64 `json:"unique_visitors"`
		Bandwidth int64 `json:"bandwidth"`
	} `json:"general"`
	Visitors       Panel `json:"visitors"` // per day, data YYYYMMDD
	Requests       Panel `json:"requests"` // pages: neither static nor 404
	Static         Panel `json:"static_requests"`
	NotFound       Panel `json:"not_found"`
	Hosts          Panel `json:"hosts"`
	VisitTime      Panel `json:"visit_time"` // per hour of day, data HH
	VirtualHosts   Panel `json:"vhosts"`
	Referrers      Panel `json:"referrers"`
	ReferringSites Panel `json:"referring_sites"`
	Status         Panel `json:"status_codes"` // classes, the codes as their items
}

// Panel is one of the report's panels.
type Panel struct {
	Data []Item `json:"data"`
}

// Item is one row of a panel; Items are its sub-rows (status codes of a
// class).
type Item struct {
	Data     string `json:"data"`
	Method   string `json:"method"`
	Protocol string `json:"protocol"`
	Hits     Count  `json:"hits"`
	Visitors Count  `json:"visitors"`
	Bytes    Count  `json:"bytes"`
	Items    []Item `json:"items"`
}

// Count is a metric of an item.
type Count struct {
	Count int64 `json:"count"`
}

// ReadReport reads a JSON report GoAccess wrote.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read GoAccess's report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cannot parse GoAccess's report %q: %w", path, err)
	}
	return &r, nil
}

// Hits sums the hits of the panel's rows by key(row); rows for which key
// returns "" are left out.
func (p Panel) Hits(key func(Item) string) map[string]int64 {
	m := map[string]int64{}
	for _, it := range p.Data {
		if k := key(it); k != "" {
			m[k] += it.Hits.Count
		}
	}
	return m
}

// Bytes sums the bytes of the panel's rows by key(row), as Hits.
func (p Panel) Bytes(key func(Item) string) map[string]int64 {
	m := map[string]int64{}
	for _, it := range p.Data {
		if k := key(it); k != "" {
			m[k] += it.Bytes.Count
		}
	}
	return m
}

// ByData keys a row by its data (the URL, the host, the hour …).
func ByData(it Item) string { return it.Data }

// StatusHits returns the hits per status code ("404").
func (r *Report) StatusHits() map[string]int64 {
	m := map[string]int64{}
	for _, class := range r.Status.Data {
		for _, it := range class.Items {
			code, _, _ := strings.Cut(it.Data, " ")
			m[code] += it.Hits.Count
		}
	}
	return m
}

// Command returns the goaccess binary, installing Debian's goaccess
// package with apt-get when it is missing (logf says so).
func Command(logf func(format string, args ...any)) (string, error) {
	if p, err := exec.LookPath("goaccess"); err == nil {
		return p, nil
	}
	logf("installing goaccess with apt-get")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "--no-install-recommends", "goaccess"}} {
		cmd := exec.Command("apt-get", append([]string{"-o", "DPkg::Lock::Timeout=600"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %v\n%s", args[0], err, out)
		}
	}
	p, err := exec.LookPath("goaccess")
	if err != nil {
		return "", fmt.Errorf("goaccess is still missing after apt-get install goaccess: %w", err)
	}
	return p, nil
}

// ReadTree reads the flat JSON list `canopyd replay -print` writes into
// one map of key to value.
func ReadTree(path string) (map[string]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read canopy's tree: %w", err)
	}
	var list []map[string]float64
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("cannot parse canopy's tree %q: %w", path, err)
	}
	tree := map[string]float64{}
	for _, e := range list {
		for k, v := range e {
			tree[k] = v
		}
	}
	return tree, nil
}
