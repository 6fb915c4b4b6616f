package trend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Remote is the backend for an external VictoriaMetrics: rows go to its
// /api/v1/import (JSON lines) and come back from /api/v1/export, so the raw
// points are downsampled by the same code as the embedded store's and both
// answer alike. For a single node both URLs are the server
// (http://vm:8428); for a cluster the write URL is vminsert's
// http://vminsert:8480/insert/0/prometheus and the read URL vmselect's
// http://vmselect:8481/select/0/prometheus.
type Remote struct {
	write, read   string
	client        *http.Client
	rollupMinSpan time.Duration // ranges from which the server downsamples
}

// OpenRemote checks the URLs and returns the backend. readURL defaults to
// writeURL. The server need not be up yet: writes retry and are counted
// when they fail.
func OpenRemote(writeURL, readURL string) (*Remote, error) {
	if readURL == "" {
		readURL = writeURL
	}
	for _, u := range []string{writeURL, readURL} {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, fmt.Errorf("trend remote URL %q: want http(s)://host:port[/path]", u)
		}
	}
	return &Remote{
		write:         strings.TrimRight(writeURL, "/"),
		read:          strings.TrimRight(readURL, "/"),
		client:        &http.Client{Timeout: 2 * time.Minute},
		rollupMinSpan: rollupMinSpan,
	}, nil
}

// Name implements Backend.
func (r *Remote) Name() string { return "remote " + r.write }

type importLine struct {
	Metric     map[string]string `json:"metric"`
	Values     []float64         `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// Add implements Backend: one JSON line per series.
func (r *Remote) Add(ctx context.Context, rows []Row) error {
	type sk struct {
		key, kindOrText string
		kind            Kind
	}
	idx := map[sk]int{}
	var lines []importLine
	for _, row := range rows {
		k := sk{key: row.Key, kind: row.Kind, kindOrText: row.Kind.String()}
		if row.Kind == Marker {
			k.kindOrText = row.Text
		}
		i, ok := idx[k]
		if !ok {
			m := map[string]string{"__name__": metricNumbers, labelKey: row.Key, labelKind: row.Kind.String()}
			if row.Kind == Marker {
				m = map[string]string{"__name__": metricMarkers, labelKey: row.Key, labelText: row.Text}
			}
			i = len(lines)
			idx[k] = i
			lines = append(lines, importLine{Metric: m})
		}
		lines[i].Values = append(lines[i].Values, storedValue(&row))
		lines[i].Timestamps = append(lines[i].Timestamps, row.TS)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			return fmt.Errorf("cannot encode trend rows: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.write+"/api/v1/import", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot write to VictoriaMetrics at %s: %w", r.write, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		err := fmt.Errorf("VictoriaMetrics at %s refused the write: %s: %s", r.write, resp.Status, bytes.TrimSpace(msg))
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
			return &refusedError{err}
		}
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// selector builds a series selector for metric and m.
func selector(metric string, m *Matcher) string {
	var b strings.Builder
	b.WriteString(`{__name__=`)
	b.WriteString(strconv.Quote(metric))
	if m != nil {
		b.WriteString("," + labelKey)
		if m.Exact {
			b.WriteString("=")
			b.WriteString(strconv.Quote(m.Pattern))
		} else {
			b.WriteString("=~")
			b.WriteString(strconv.Quote(m.Regexp))
		}
	}
	b.WriteString("}")
	return b.String()
}

// vmTime formats unix ms as the seconds VictoriaMetrics' APIs take.
func vmTime(ms int64) string {
	return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)
}

func (r *Remote) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.read+path, strings.NewReader(q.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot read from VictoriaMetrics at %s: %w", r.read, err)
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("VictoriaMetrics at %s%s: %s: %s", r.read, path, resp.Status, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// export streams the series matching sel in [from, until].
func (r *Remote) export(ctx context.Context, sel string, from, until int64, fn func(l *importLine)) error {
	q := url.Values{"match[]": {sel}, "start": {vmTime(from)}, "end": {vmTime(until)}}
	resp, err := r.get(ctx, "/api/v1/export", q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l importLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("cannot decode VictoriaMetrics export: %w", err)
		}
		fn(&l)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cannot read VictoriaMetrics export: %w", err)
	}
	return nil
}

// Read implements Backend.
func (r *Remote) Read(ctx context.Context, m *Matcher, from, until int64) ([]RawSeries, error) {
	byKey := map[string]*RawSeries{}
	err := r.export(ctx, selector(metricNumbers, m), from, until, func(l *importLine) {
		if len(l.Timestamps) == 0 || len(l.Timestamps) != len(l.Values) {
			return
		}
		key := l.Metric[labelKey]
		rs := byKey[key]
		if rs == nil {
			rs = &RawSeries{Key: key}
			byKey[key] = rs
		}
		if len(rs.TS) == 0 || l.Timestamps[len(l.Timestamps)-1] >= rs.TS[len(rs.TS)-1] {
			rs.Kind = parseKind(l.Metric[labelKind])
		}
		rs.TS = append(rs.TS, l.Timestamps...)
		rs.Values = append(rs.Values, l.Values...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]RawSeries, 0, len(byKey))
	for _, rs := range byKey {
		sortPoints(rs)
		rs.TS, rs.Values = dropRewrites(rs.TS, rs.Values)
		out = append(out, *rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Markers implements Backend.
func (r *Remote) Markers(ctx context.Context, m *Matcher, from, until int64) ([]MarkerEvent, error) {
	var out []MarkerEvent
	err := r.export(ctx, selector(metricMarkers, m), from, until, func(l *importLine) {
		for _, t := range l.Timestamps {
			out = append(out, MarkerEvent{Key: l.Metric[labelKey], T: t, Text: l.Metric[labelText]})
		}
	})
	if err != nil {
		return nil, err
	}
	sortMarkers(out)
	return out, nil
}

// Keys implements Backend.
func (r *Remote) Keys(ctx context.Context, m *Matcher, from, until int64) ([]string, error) {
	q := url.Values{"match[]": {selector(metricNumbers, m)}, "start": {vmTime(from)}, "end": {vmTime(until)}}
	resp, err := r.get(ctx, "/api/v1/label/"+labelKey+"/values", q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v struct {
		Data []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("cannot decode VictoriaMetrics label values: %w", err)
	}
	sort.Strings(v.Data)
	return v.Data, nil
}

// Flush implements Backend. A single node makes buffered rows searchable
// on /internal/force_flush; a cluster's vminsert has no such endpoint and
// its rows show up within a second or two anyway.
func (r *Remote) Flush(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.write+"/internal/force_flush", nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot flush VictoriaMetrics at %s: %w", r.write, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// Close implements Backend.
func (r *Remote) Close() error {
	r.client.CloseIdleConnections()
	return nil
}

// refusedError is a write the server rejected for its content: retrying
// would not help.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }
