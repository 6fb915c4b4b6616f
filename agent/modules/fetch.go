package modules

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"time"

	"github.com/canopy-dev/canopy/sdk/collectorabi"
)

// fetch GETs u and measures time to first byte and total time, as an HTTP
// check (Telegraf's http_response, curl's -w) does.
func fetch(ctx context.Context, c *http.Client, u string, timeout time.Duration) collectorabi.HTTPResponse {
	var r collectorabi.HTTPResponse
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u, nil)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	req.Header.Set("User-Agent", "canopy-agent")
	resp, err := c.Do(req)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer resp.Body.Close()
	r.Status = uint32(resp.StatusCode)
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(tmp)
		r.Bytes += int64(n)
		if room := collectorabi.MaxHTTPBody - len(buf); room > 0 {
			buf = append(buf, tmp[:min(n, room)]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			r.Err = "reading the body: " + err.Error()
			break
		}
	}
	end := time.Now()
	if first.IsZero() {
		first = end
	}
	r.TTFBNs = int64(first.Sub(start))
	r.TotalNs = int64(end.Sub(start))
	r.Body = buf
	return r
}
