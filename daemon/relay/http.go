package relay

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/canopy-dev/canopy/daemon/auth"
	"github.com/canopy-dev/canopy/daemon/key"
	"github.com/canopy-dev/canopy/daemon/metric"
	"github.com/canopy-dev/canopy/daemon/push"
)

// Handler serves the relay's HTTP side: /push (as canopyd's), fan-out
// /get and /pull, /status and /metrics.
func (r *Relay) Handler() http.Handler {
	checker := auth.New(r.cfg.Tokens)
	lim := push.LimitsFrom(r.cfg.Limits)
	mux := http.NewServeMux()
	pushH := func(w http.ResponseWriter, req *http.Request) { r.push(w, req, lim) }
	mux.HandleFunc("POST /push", pushH)
	mux.HandleFunc("PUT /push", pushH)
	mux.HandleFunc("GET /get/{key...}", r.get)
	mux.HandleFunc("GET /pull", r.pull)
	mux.HandleFunc("GET /pull/{key...}", r.pull)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"mode": r.cfg.Mode, "relay": r.source, "upstreams": r.Status()})
	})
	reg := metric.NewRegistry(true)
	reg.Collect(r.collect)
	mux.Handle("GET /metrics", reg.Handler())
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := checker.CheckRequest(req); err != nil {
			writeJSON(w, err.Code, map[string]string{"error": err.Msg})
			return
		}
		mux.ServeHTTP(w, req)
	})
}

// writeJSON answers with v as JSON, as canopyd's API does.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// push accepts what canopyd's /push accepts; the answer comes once the push
// is in every target queue on disk.
func (r *Relay) push(w http.ResponseWriter, req *http.Request, lim push.Limits) {
	var body io.Reader = http.MaxBytesReader(w, req.Body, lim.MaxBodyBytes)
	if strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			fail(w, http.StatusBadRequest, "body is not gzip: %v", err)
			return
		}
		body = io.LimitReader(zr, lim.MaxBodyBytes+1)
	}
	// Bodies are read into reused buffers: nothing keeps them after the
	// push is queued (records are copies).
	buf, _ := r.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= 16<<20 {
			r.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if n := req.ContentLength; n > 0 && n <= lim.MaxBodyBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(body)
	data := buf.Bytes()
	if err != nil || int64(len(data)) > lim.MaxBodyBytes {
		fail(w, http.StatusRequestEntityTooLarge, "push body over %d bytes", lim.MaxBodyBytes)
		return
	}
	parts, err := push.DecodeBody(req.Header.Get("Content-Type"), data, lim.MaxBodyBytes)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	// Validate everything before queueing anything: a push is all or nothing.
	pushes := make([]JSONPush, len(parts.JSON))
	res := push.Result{}
	for i, j := range parts.JSON {
		if lerr := lim.CheckJSON(j); lerr != nil {
			fail(w, lerr.Code, "%v", lerr)
			return
		}
		jp, err := r.CheckJSON(j)
		if err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		pushes[i] = jp
		res.Numbers += jp.Deltas()
	}
	for _, jp := range pushes {
		if err := r.PushJSON(jp); err != nil {
			fail(w, http.StatusInternalServerError, "cannot queue push: %v", err)
			return
		}
	}
	for _, l := range parts.Logs {
		if strings.TrimSpace(l) == "" {
			continue
		}
		res.Lines += strings.Count(strings.TrimRight(l, "\n"), "\n") + 1
		if err := r.PushAccessLog(l); err != nil {
			fail(w, http.StatusInternalServerError, "cannot queue access-log lines: %v", err)
			return
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// owners returns the upstreams that can hold keys matching k: one shard
// when the pattern's leading segments are exact names, else all (in replicate
// mode, just the first that is up).
func (r *Relay) owners(k string) []int {
	if r.cfg.Mode == "replicate" {
		for i, u := range r.ups {
			if u.up.Load() {
				return []int{i}
			}
		}
		return []int{0}
	}
	if p, err := key.Parse(k); err == nil {
		if names := p.Prefix(); r.cfg.ShardDepth > 0 && len(names) >= r.cfg.ShardDepth {
			return []int{r.shard(names[:r.cfg.ShardDepth])}
		}
	}
	all := make([]int, len(r.ups))
	for i := range all {
		all[i] = i
	}
	return all
}

// get answers /get/KEY from the shards that own it, merged in key order.
func (r *Relay) get(w http.ResponseWriter, req *http.Request) {
	key := req.PathValue("key")
	if req.URL.Query().Get("format") == "tree" {
		fail(w, http.StatusBadRequest, "format=tree is not served by a relay; ask without it")
		return
	}
	var (
		mu  sync.Mutex
		out []map[string]json.RawMessage
		wg  sync.WaitGroup
		err error
	)
	for _, i := range r.owners(key) {
		wg.Add(1)
		go func(u *upstream) {
			defer wg.Done()
			var part []map[string]json.RawMessage
			_, e := r.fetch(req.Context(), u, "/get/"+escapePath(key), &part)
			mu.Lock()
			defer mu.Unlock()
			if e != nil {
				err = e
				return
			}
			out = append(out, part...)
		}(r.ups[i])
	}
	wg.Wait()
	if err != nil {
		fail(w, http.StatusBadGateway, "%v", err)
		return
	}
	sortEntries(out)
	if out == nil {
		out = []map[string]json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, out)
}

func escapePath(key string) string {
	return strings.ReplaceAll(url.PathEscape(key), "%2C", ",")
}

func entryKey(m map[string]json.RawMessage) string {
	for k := range m {
		return k
	}
	return ""
}

func sortEntries(out []map[string]json.RawMessage) {
	slices.SortFunc(out, func(a, b map[string]json.RawMessage) int { return strings.Compare(entryKey(a), entryKey(b)) })
}

// fetch GETs path from an upstream into v and returns the response headers.
func (r *Relay) fetch(ctx context.Context, u *upstream, path string, v any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u.cfg.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	if u.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+u.cfg.Token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.cfg.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("upstream %s: %s: %s", u.cfg.URL, resp.Status, bytes.TrimSpace(b))
	}
	return resp.Header, json.NewDecoder(resp.Body).Decode(v)
}

// pull long-polls the owning shards. With several, the version is a list
// of per-shard versions ("v1.v2", in upstream order) and the answer comes as
// soon as any shard has changes.
func (r *Relay) pull(w http.ResponseWriter, req *http.Request) {
	query := req.URL.Query()
	key := query.Get("key")
	if key == "" {
		key = req.PathValue("key")
	}
	own := r.owners(key)
	since := make([]string, len(r.ups))
	for i, v := range strings.Split(query.Get("since"), ".") {
		if i < len(since) {
			since[i] = v
		}
	}
	timeout := "30"
	if t, ok := query["timeout"]; ok && len(t) > 0 {
		timeout = t[0]
	}
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	type answer struct {
		i       int
		entries []map[string]json.RawMessage
		version string
		err     error
	}
	ch := make(chan answer, len(own))
	for _, i := range own {
		go func(i int) {
			q := url.Values{"key": {key}, "timeout": {timeout}}
			if since[i] != "" {
				q.Set("since", since[i])
			}
			var part []map[string]json.RawMessage
			h, err := r.fetch(ctx, r.ups[i], "/pull/?"+q.Encode(), &part)
			a := answer{i: i, entries: part, err: err}
			if h != nil {
				a.version = h.Get("X-Canopy-Version")
			}
			ch <- a
		}(i)
	}
	versions := slices.Clone(since)
	var out []map[string]json.RawMessage
	var firstErr error
	for n := 0; n < len(own); n++ {
		a := <-ch
		if a.err != nil {
			if firstErr == nil {
				firstErr = a.err
			}
		} else {
			versions[a.i] = a.version
			out = append(out, a.entries...)
		}
		if len(out) > 0 {
			cancel() // answer as soon as any shard has changes
			// collect what the others already have
			deadline := time.After(50 * time.Millisecond)
		drain:
			for m := n + 1; m < len(own); m++ {
				select {
				case a := <-ch:
					if a.err == nil {
						versions[a.i] = a.version
						out = append(out, a.entries...)
					}
				case <-deadline:
					break drain
				}
			}
			break
		}
	}
	if len(out) == 0 && firstErr != nil && !errors.Is(firstErr, context.Canceled) {
		fail(w, http.StatusBadGateway, "%v", firstErr)
		return
	}
	sortEntries(out)
	if out == nil {
		out = []map[string]json.RawMessage{}
	}
	if len(r.ups) == 1 {
		w.Header().Set("X-Canopy-Version", versions[0])
	} else {
		w.Header().Set("X-Canopy-Version", strings.Join(versions, "."))
	}
	writeJSON(w, http.StatusOK, out)
}

// collect exposes queue depth, lag and drops per upstream.
func (r *Relay) collect(e *metric.Exposition) {
	for _, s := range r.Status() {
		u := s.URL
		e.Gauge("canopy_relay_queue_records", "Records queued on disk for an upstream (sent but not yet durable there, or unsent).", float64(s.QueuedRecords), "upstream", u)
		e.Gauge("canopy_relay_queue_bytes", "Bytes queued on disk for an upstream.", float64(s.QueuedBytes), "upstream", u)
		e.Gauge("canopy_relay_unsent_records", "Records not yet sent to an upstream (the lag).", float64(s.Unsent), "upstream", u)
		e.Counter("canopy_relay_dropped_records_total", "Records dropped because the queue was full.", float64(s.Dropped), "upstream", u)
		e.Counter("canopy_relay_sent_records_total", "Records delivered to an upstream.", float64(s.Sent), "upstream", u)
		e.Counter("canopy_relay_wire_bytes_total", "Bytes sent to an upstream (after compression).", float64(s.WireBytes), "upstream", u)
		e.Counter("canopy_relay_failures_total", "Failed attempts toward an upstream.", float64(s.Failures), "upstream", u)
		up := 0.0
		if s.Up {
			up = 1
		}
		e.Gauge("canopy_relay_upstream_up", "1 when the last attempt toward an upstream worked.", up, "upstream", u)
		lag := 0.0
		if s.Unsent > 0 && !s.LastOK.IsZero() {
			lag = time.Since(s.LastOK).Seconds()
		}
		e.Gauge("canopy_relay_lag_seconds", "Seconds since an upstream last took a batch.", lag, "upstream", u)
	}
}
