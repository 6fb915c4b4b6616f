// Package loggen writes deterministic synthetic nginx access logs: realistic
// user agents (Sogou MetaSr shells over IE and Chrome, mobile, bots and
// tools), paths with queries, statuses, response sizes, request and
// upstream times, and a chosen fraction of malformed lines. The same Config
// always yields the same bytes, so tests and benchmarks can share logs
// without committing them.
package loggen

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config says what to generate.
type Config struct {
	Lines  int           // number of lines (good and bad)
	Seed   uint64        // same seed, same log
	Format string        // "combined" (default), "main" (combined + $request_time $upstream_response_time), "json" (JSONFormat) or "vcombined" (VCombinedFormat)
	Bad    float64       // fraction of malformed lines, 0..1
	Start  time.Time     // time of the first line (its zone is the log's zone)
	Span   time.Duration // the lines spread evenly over [Start, Start+Span)
}

// JSONFormat is the nginx log_format the "json" lines follow: the main
// format's variables as a JSON object (sdk/logformat's "json" preset reads
// it too, by key name).
const JSONFormat = `log_format json escape=json '{"time_local":"$time_local","remote_addr":"$remote_addr","remote_user":"$remote_user",'
  '"request":"$request","status":$status,"body_bytes_sent":$body_bytes_sent,"http_referer":"$http_referer",'
  '"http_user_agent":"$http_user_agent","request_time":$request_time,"upstream_response_time":"$upstream_response_time"}';`

// VCombinedFormat is the "vcombined" lines' format: combined behind the
// virtual host, for panels that need one (GoAccess's %v). Those logs have
// more that the other formats lack: several sites (one logged in capitals
// now and then), internal referrers naming the line's own site, static
// files that are missing (404) and client addresses spelled in full
// (2001:0DB8:…) or IPv4-mapped (::ffff:192.0.2.1).
const VCombinedFormat = `$host ` + logformatCombined

// logformatCombined is sdk/logformat's combined preset, spelled out so the
// generator does not depend on the parser it feeds.
const logformatCombined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// DefaultStart is the first line's time when Config.Start is zero.
var DefaultStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.FixedZone("", 8*3600))

// Stats counts what a Generator wrote.
type Stats struct {
	Lines int // all lines
	Bad   int // malformed lines among them
}

// Generator produces one line at a time. It is not safe for concurrent use.
type Generator struct {
	cfg     Config
	times   bool // main format
	json    bool // JSONFormat
	vhost   bool // VCombinedFormat
	rng     *rand.Rand
	i       int
	stats   Stats
	clients []client
	agents  []weighted
	agentW  int
	// Formatted `$time_local` of the current second: formatting is the
	// slowest part of a line and seconds repeat many times.
	lastSec int64
	lastTS  []byte
}

type client struct {
	addr  string
	agent int // index into agents: a client keeps its browser
}

// New checks cfg and returns a Generator.
func New(cfg Config) (*Generator, error) {
	switch cfg.Format {
	case "", "combined":
		cfg.Format = "combined"
	case "main", "json", "vcombined":
	default:
		return nil, fmt.Errorf("unknown log format %q (want combined, main, json or vcombined)", cfg.Format)
	}
	if cfg.Lines < 0 {
		return nil, fmt.Errorf("negative line count %d", cfg.Lines)
	}
	if cfg.Bad < 0 || cfg.Bad > 1 || math.IsNaN(cfg.Bad) {
		return nil, fmt.Errorf("bad-line fraction %v is not within 0..1", cfg.Bad)
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	if cfg.Span < 0 {
		return nil, fmt.Errorf("negative span %v", cfg.Span)
	}
	g := &Generator{
		cfg:     cfg,
		times:   cfg.Format == "main",
		json:    cfg.Format == "json",
		vhost:   cfg.Format == "vcombined",
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		agents:  agents,
		lastSec: math.MinInt64,
	}
	for _, a := range agents {
		g.agentW += a.w
	}
	// A fixed population of clients, each with its own agent, so per-client
	// counts (unique visitors) look like a real site's.
	g.clients = make([]client, 4000)
	for i := range g.clients {
		var addr string
		switch {
		case i%10 == 7:
			addr = fmt.Sprintf("2001:db8:%x::%x", g.rng.IntN(0x10000), g.rng.IntN(0x10000))
		case i%3 == 0:
			addr = fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254))
		default:
			addr = fmt.Sprintf("%d.%d.%d.%d", 1+g.rng.IntN(223), g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254))
		}
		if g.vhost {
			// Some clients logged the way other servers and proxies spell
			// them: IPv6 in full and in capitals, IPv4 mapped into IPv6.
			switch {
			case i%40 == 7:
				addr = strings.ToUpper(netip.MustParseAddr(addr).StringExpanded())
			case i%30 == 1:
				addr = "::ffff:" + addr
			}
		}
		g.clients[i] = client{addr: addr, agent: g.pickAgent()}
	}
	return g, nil
}

// Done reports whether all lines were produced.
func (g *Generator) Done() bool { return g.i >= g.cfg.Lines }

// Stats returns what was produced so far.
func (g *Generator) Stats() Stats { return g.stats }

// Write generates cfg into w.
func Write(w io.Writer, cfg Config) (Stats, error) {
	g, err := New(cfg)
	if err != nil {
		return Stats{}, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var line []byte
	for !g.Done() {
		line = g.Next(line[:0])
		if _, err := bw.Write(line); err != nil {
			return g.stats, fmt.Errorf("cannot write the log: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return g.stats, fmt.Errorf("cannot write the log: %w", err)
	}
	return g.stats, nil
}

// Lines returns the whole log of cfg as lines (each ending in "\n"), for
// tests and benchmarks that keep it in memory.
func Lines(cfg Config) ([][]byte, Stats, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, Stats{}, err
	}
	out := make([][]byte, 0, cfg.Lines)
	for !g.Done() {
		out = append(out, g.Next(nil))
	}
	return out, g.stats, nil
}

// Next appends the next line, with its "\n", to dst.
func (g *Generator) Next(dst []byte) []byte {
	n := g.cfg.Lines
	if n < 1 {
		n = 1
	}
	t := g.cfg.Start.Add(time.Duration(float64(g.cfg.Span) * float64(g.i) / float64(n)))
	g.i++
	g.stats.Lines++
	if g.cfg.Bad > 0 && g.rng.Float64() < g.cfg.Bad {
		g.stats.Bad++
		return g.badLine(dst, t)
	}
	return g.goodLine(dst, t)
}

func (g *Generator) pickAgent() int {
	x := g.rng.IntN(g.agentW)
	for i, a := range g.agents {
		if x < a.w {
			return i
		}
		x -= a.w
	}
	return len(g.agents) - 1
}

// pickClient favours a few heavy clients, as real traffic does.
func (g *Generator) pickClient() *client {
	u := g.rng.Float64()
	return &g.clients[int(u*u*float64(len(g.clients)))]
}

func (g *Generator) appendTime(dst []byte, t time.Time) []byte {
	if s := t.Unix(); s != g.lastSec {
		g.lastSec = s
		g.lastTS = t.AppendFormat(g.lastTS[:0], "02/Jan/2006:15:04:05 -0700")
	}
	return append(dst, g.lastTS...)
}

// goodLine writes one combined (or main) line.
func (g *Generator) goodLine(dst []byte, t time.Time) []byte {
	c := g.pickClient()
	agent := &g.agents[c.agent]
	if g.rng.IntN(50) == 0 { // now and then a client switches browsers
		agent = &g.agents[g.pickAgent()]
	}
	req := g.request(agent.bot)
	if g.json {
		return g.jsonLine(dst, t, c, agent, req)
	}

	if g.vhost {
		dst = append(dst, req.host...)
		dst = append(dst, ' ')
	}
	dst = append(dst, c.addr...)
	dst = append(dst, " - "...)
	if req.user != "" {
		dst = append(dst, req.user...)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, " ["...)
	dst = g.appendTime(dst, t)
	dst = append(dst, "] \""...)
	dst = append(dst, req.method...)
	dst = append(dst, ' ')
	dst = append(dst, req.path...)
	if len(req.query) > 0 {
		dst = append(dst, '?')
		dst = append(dst, req.query...)
	}
	dst = append(dst, " HTTP/"...)
	dst = append(dst, req.proto...)
	dst = append(dst, "\" "...)
	dst = strconv.AppendInt(dst, int64(req.status), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, req.bytes, 10)
	dst = append(dst, " \""...)
	dst = append(dst, g.referer(req)...)
	dst = append(dst, "\" \""...)
	dst = append(dst, agent.ua...)
	dst = append(dst, '"')
	if g.times {
		dst = append(dst, ' ')
		dst = appendMillis(dst, req.reqTime)
		dst = append(dst, ' ')
		switch len(req.upstream) {
		case 0:
			dst = append(dst, '-')
		default:
			for i, u := range req.upstream {
				if i > 0 {
					dst = append(dst, ", "...)
				}
				if u < 0 {
					dst = append(dst, '-')
				} else {
					dst = appendMillis(dst, u)
				}
			}
		}
	}
	return append(dst, '\n')
}

// jsonLine writes one line of JSONFormat, as nginx's escape=json does
// (absent strings are empty, not "-").
func (g *Generator) jsonLine(dst []byte, t time.Time, c *client, agent *weighted, req *request) []byte {
	dst = append(dst, `{"time_local":"`...)
	dst = g.appendTime(dst, t)
	dst = append(dst, `","remote_addr":"`...)
	dst = appendJSON(dst, c.addr)
	dst = append(dst, `","remote_user":"`...)
	dst = appendJSON(dst, req.user)
	dst = append(dst, `","request":"`...)
	dst = appendJSON(dst, req.method)
	dst = append(dst, ' ')
	dst = appendJSON(dst, req.path)
	if len(req.query) > 0 {
		dst = append(dst, '?')
		dst = appendJSON(dst, req.query)
	}
	dst = append(dst, " HTTP/"...)
	dst = append(dst, req.proto...)
	dst = append(dst, `","status":`...)
	dst = strconv.AppendInt(dst, int64(req.status), 10)
	dst = append(dst, `,"body_bytes_sent":`...)
	dst = strconv.AppendInt(dst, req.bytes, 10)
	dst = append(dst, `,"http_referer":"`...)
	if ref := g.referer(req); ref != "-" {
		dst = appendJSON(dst, ref)
	}
	dst = append(dst, `","http_user_agent":"`...)
	if agent.ua != "-" {
		dst = appendJSON(dst, agent.ua)
	}
	dst = append(dst, `","request_time":`...)
	dst = appendMillis(dst, req.reqTime)
	dst = append(dst, `,"upstream_response_time":"`...)
	for i, u := range req.upstream {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		if u < 0 {
			dst = append(dst, '-')
		} else {
			dst = appendMillis(dst, u)
		}
	}
	return append(dst, "\"}\n"...)
}

// appendJSON writes s escaped for a JSON string.
func appendJSON(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendMillis writes seconds with three decimals, as nginx does.
func appendMillis(dst []byte, s float64) []byte {
	ms := int64(math.Round(s * 1000))
	dst = strconv.AppendInt(dst, ms/1000, 10)
	dst = append(dst, '.')
	f := ms % 1000
	if f < 100 {
		dst = append(dst, '0')
	}
	if f < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, f, 10)
}

// badLine writes a line that matches none of the formats.
func (g *Generator) badLine(dst []byte, t time.Time) []byte {
	if g.json {
		return g.badJSON(dst, t)
	}
	switch g.rng.IntN(4) {
	case 0: // truncated inside the time (a crashed writer, a torn read)
		dst = append(dst, g.pickClient().addr...)
		dst = append(dst, " - - ["...)
		ts := t.AppendFormat(nil, "02/Jan/2006:15:04:05 -0700")
		dst = append(dst, ts[:3+g.rng.IntN(len(ts)-4)]...)
	case 1: // binary junk (a log written by something else, a disk error)
		for range 20 + g.rng.IntN(60) {
			dst = append(dst, byte(0x80+g.rng.IntN(0x7f)))
		}
	case 2: // a status that is not a number
		dst = append(dst, g.pickClient().addr...)
		dst = append(dst, " - - ["...)
		dst = g.appendTime(dst, t)
		dst = append(dst, "] \"GET / HTTP/1.1\" 2OO 612 \"-\" \"-\""...)
		if g.times {
			dst = append(dst, " 0.001 0.001"...)
		}
	default: // an application's own log line in the wrong file
		dst = appendAppLine(dst, t)
	}
	return append(dst, '\n')
}

func appendAppLine(dst []byte, t time.Time) []byte {
	dst = t.AppendFormat(dst, "2006/01/02 15:04:05")
	return append(dst, " [error] 1234#0: *5678 upstream timed out (110: Connection timed out) while reading response header from upstream"...)
}

// badJSON writes a line that is not a good JSONFormat line.
func (g *Generator) badJSON(dst []byte, t time.Time) []byte {
	switch g.rng.IntN(4) {
	case 0: // truncated
		dst = append(dst, `{"time_local":"`...)
		ts := t.AppendFormat(nil, "02/Jan/2006:15:04:05 -0700")
		dst = append(dst, ts[:3+g.rng.IntN(len(ts)-4)]...)
	case 1:
		for range 20 + g.rng.IntN(60) {
			dst = append(dst, byte(0x80+g.rng.IntN(0x7f)))
		}
	case 2:
		dst = append(dst, `{"time_local":"`...)
		dst = g.appendTime(dst, t)
		dst = append(dst, `","remote_addr":"10.0.0.1","request":"GET / HTTP/1.1","status":2OO,"body_bytes_sent":612}`...)
	default:
		dst = appendAppLine(dst, t)
	}
	return append(dst, '\n')
}
