package app

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/canopy-dev/canopy/daemon/listen"
	"github.com/canopy-dev/canopy/daemon/metric"
	"github.com/canopy-dev/canopy/daemon/pipes"
)

// subsystemMetrics exposes the pipes, trend and ingest counters on
// /metrics, read from their status at scrape time (so the subsystems need
// no Prometheus code of their own): per-pipe ns/line, records, calls,
// retried calls, failures and quarantine; pipe line totals; every numeric field of the
// trend and ingest status (queue, points written, last tick duration, bytes
// behind) as canopy_trend_* and canopy_ingest_* gauges.
type subsystemMetrics struct {
	pipes  func() pipes.Status
	trend  func() map[string]any
	ingest func() map[string]any
}

// registerSubsystemMetrics adds the collector to reg; nil funcs are skipped.
func registerSubsystemMetrics(reg *metric.Registry, p func() pipes.Status, trend, ingest func() map[string]any) {
	reg.Collect((&subsystemMetrics{pipes: p, trend: trend, ingest: ingest}).collect)
}

// desc names a metric family and says what it counts.
type desc struct{ name, help string }

var (
	pipeNs          = desc{"canopy_pipe_ns_per_line", "Mean WASM time per line, by pipe."}
	pipeRecords     = desc{"canopy_pipe_records_total", "Lines a pipe processed."}
	pipeCalls       = desc{"canopy_pipe_calls_total", "Batches a pipe was called with."}
	pipeFailures    = desc{"canopy_pipe_failures_total", "Traps, timeouts and bad output, by pipe."}
	pipeRetried     = desc{"canopy_pipe_retried_calls_total", "Batches run again on a fresh instance after a call passed the time limit, by pipe."}
	pipeQuarantined = desc{"canopy_pipe_quarantined", "1 while a pipe is quarantined."}
	pipeLines       = desc{"canopy_pipe_lines_total", "Access-log lines run through the pipes."}
	pipeBad         = desc{"canopy_pipe_bad_lines_total", "Access-log lines that did not parse."}
	trendLag        = desc{"canopy_trend_lag_points", "Points queued for the trend store and not yet written (trend lag)."}
	pipeMergeErrs   = desc{"canopy_pipe_merge_errors_total", "Pipe output the tree refused."}
)

func (m *subsystemMetrics) collect(e *metric.Exposition) {
	if m.pipes != nil {
		st := m.pipes()
		e.Counter(pipeLines.name, pipeLines.help, float64(st.Lines))
		e.Counter(pipeBad.name, pipeBad.help, float64(st.BadLines))
		e.Counter(pipeMergeErrs.name, pipeMergeErrs.help, float64(st.MergeErrs))
		for _, p := range st.Pipes {
			name := p.Name
			if name == "" {
				name = strings.TrimSuffix(p.File, ".wasm")
			}
			q := 0.0
			if p.Quarantined {
				q = 1
			}
			e.Gauge(pipeQuarantined.name, pipeQuarantined.help, q, "pipe", name)
			if !p.Loaded {
				continue
			}
			e.Gauge(pipeNs.name, pipeNs.help, p.NanosPerLine, "pipe", name)
			e.Counter(pipeRecords.name, pipeRecords.help, float64(p.Records), "pipe", name)
			e.Counter(pipeCalls.name, pipeCalls.help, float64(p.Calls), "pipe", name)
			e.Counter(pipeFailures.name, pipeFailures.help, float64(p.Failures), "pipe", name)
			e.Counter(pipeRetried.name, pipeRetried.help, float64(p.Retried), "pipe", name)
		}
	}
	if m.trend != nil {
		st := m.trend()
		statusGauges(e, "canopy_trend_", "Trend store status field ", st)
		// The lag: points handed to the store and not yet written,
		// dropped or refused.
		if q, ok := number(st["points_queued"]); ok {
			w, _ := number(st["points_written"])
			d, _ := number(st["points_dropped"])
			r, _ := number(st["points_refused"])
			e.Gauge(trendLag.name, trendLag.help, max(0, q-w-d-r))
		}
	}
	if m.ingest != nil {
		statusGauges(e, "canopy_ingest_", "Ingest status field ", m.ingest())
	}
}

// number reads a numeric status value of any integer or float type.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

var metricName = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// runningTotals are the trend and ingest status fields that only grow:
// exported as counters with _total (the others are gauges).
var runningTotals = map[string]bool{
	"ticks": true, "points_queued": true, "points_written": true, "points_dropped": true,
	"points_refused": true, "write_errors": true,
	"lines": true, "bad_lines": true, "bytes": true, "consume_errors": true, "lines_invalid_utf8": true,
	"lines_too_long": true, "recovered_bytes": true, "rotations": true, "truncations": true,
	"truncations_uncovered": true,
}

// statusGauges turns the numeric top-level fields of a status map into
// gauges, and sums "behind_bytes" over a "files" list (bytes not yet read).
func statusGauges(e *metric.Exposition, prefix, help string, st map[string]any) {
	// Round-trip through JSON so typed values (structs, slices) become
	// plain numbers, maps and lists.
	b, err := json.Marshal(st)
	if err != nil {
		return
	}
	var flat map[string]any
	if json.Unmarshal(b, &flat) != nil {
		return
	}
	for k, v := range flat {
		switch x := v.(type) {
		case float64:
			name := prefix + metricName.ReplaceAllString(k, "_")
			if name == "canopy_ingest_lines" {
				continue // canopy_ingest_lines_total{source} counts them with the other sources
			}
			if runningTotals[k] {
				// A running total is a counter, named as Prometheus expects.
				e.Counter(name+"_total", help+k+" (running total).", x)
				continue
			}
			e.Gauge(name, help+k+".", x)
		case bool:
			f := 0.0
			if x {
				f = 1
			}
			name := prefix + metricName.ReplaceAllString(k, "_")
			e.Gauge(name, help+k+".", f)
		case []any:
			if k != "files" {
				continue
			}
			behind := 0.0
			for _, f := range x {
				if m, ok := f.(map[string]any); ok {
					if n, ok := m["behind_bytes"].(float64); ok {
						behind += n
					}
				}
			}
			e.Gauge(prefix+"behind_bytes", "Bytes of followed files not read yet (ingest lag).", behind)
		}
	}
}

// listenerMetrics exports what the socket listeners did with Graphite
// timestamps.
type listenerMetrics struct{ list func() []*listen.Listener }

var (
	listenTSRefused  = desc{"canopy_listen_timestamp_refused_total", "Graphite lines refused for a timestamp outside the listener's window (older than max_age or over a minute ahead)."}
	listenBackfilled = desc{"canopy_listen_backfilled_lines_total", "Graphite lines written to the trend store at their own, past, time."}
)

func (m listenerMetrics) collect(e *metric.Exposition) {
	for _, l := range m.list() {
		st := l.Stats()
		if st["format"] != "graphite" {
			continue
		}
		proto, addr := st["proto"].(string), l.Addr().String()
		e.Counter(listenTSRefused.name, listenTSRefused.help, float64(st["timestamp_refused_lines"].(uint64)), "proto", proto, "listen", addr)
		e.Counter(listenBackfilled.name, listenBackfilled.help, float64(st["backfilled_lines"].(uint64)), "proto", proto, "listen", addr)
	}
}
