package pipeabi

import (
	"fmt"
	"math"
	"strings"
)

// Field names of the record enumeration, as a manifest lists them. The
// encoding of each is in README.md.
const (
	FieldTime        = "time"         // i64: Unix nanoseconds of the request ($time_local, $time_iso8601, $msec)
	FieldStatus      = "status"       // i64: HTTP status ($status)
	FieldBytes       = "bytes"        // i64: body bytes sent ($body_bytes_sent, else $bytes_sent); -1 if "-"
	FieldRequestTime = "request_time" // f64: seconds ($request_time); NaN if absent
	FieldUpstream    = "upstream_response_time"
	FieldMethod      = "method"      // str: request method
	FieldPath        = "path"        // str: request path without the query
	FieldQuery       = "query"       // str: query string without '?'
	FieldProtocol    = "protocol"    // str: e.g. HTTP/1.1
	FieldUserAgent   = "user_agent"  // str: $http_user_agent, "" for "-"
	FieldReferer     = "referer"     // str: $http_referer, "" for "-"
	FieldRemoteAddr  = "remote_addr" // str: $remote_addr
	FieldHost        = "host"        // str: $host, else $server_name, else $http_host
	FieldUA          = "ua"          // ua: the user agent tokenised by the host (see TokenizeUA)
	// The user agent classified by the host (sdk/logformat's classifier,
	// cached per distinct agent), each a str, "" when unknown.
	FieldUABrowser      = "ua_browser"       // chrome, firefox, safari, edge, ie, opera, …; "" for bots
	FieldUABrowserMajor = "ua_browser_major" // "120"
	FieldUAOS           = "ua_os"            // windows, macos, linux, android, ios, …
	FieldUAOSVersion    = "ua_os_version"    // "10", "xp", "10.15", "17"
	FieldUAVendor       = "ua_vendor"        // shell around the engine: sogou, qq, 360, maxthon, …
	FieldUABot          = "ua_bot"           // crawler or tool: googlebot, curl, …
	// The six ua_* fields above joined by "|" (browser|major|os|version|
	// vendor|bot): one string to count by with a single map lookup.
	FieldUAClass = "ua_class"
	// i64 hashes (XXH64, seed 0) of ua_class and of path, computed by the
	// host: a pipe that counts by one of them looks up an integer instead
	// of hashing the string itself, which is slow in Go's WASM build.
	FieldUAClassHash = "ua_class_hash"
	FieldPathHash    = "path_hash"
	// FieldVarPrefix + NAME is the raw text of log_format variable $NAME.
	FieldVarPrefix = "var:"
)

type fieldKind uint8

const (
	kindTime fieldKind = iota + 1
	kindStatus
	kindBytes
	kindRequestTime
	kindUpstream
	kindMethod
	kindPath
	kindQuery
	kindProtocol
	kindUserAgent
	kindReferer
	kindRemoteAddr
	kindHost
	kindUA
	kindVar
	kindUABrowser
	kindUABrowserMajor
	kindUAOS
	kindUAOSVersion
	kindUAVendor
	kindUABot
	kindUAClass
	kindUAClassHash
	kindPathHash
)

var fieldKinds = map[string]fieldKind{
	FieldTime: kindTime, FieldStatus: kindStatus, FieldBytes: kindBytes,
	FieldRequestTime: kindRequestTime, FieldUpstream: kindUpstream,
	FieldMethod: kindMethod, FieldPath: kindPath, FieldQuery: kindQuery,
	FieldProtocol: kindProtocol, FieldUserAgent: kindUserAgent,
	FieldReferer: kindReferer, FieldRemoteAddr: kindRemoteAddr,
	FieldHost: kindHost, FieldUA: kindUA,
	FieldUABrowser: kindUABrowser, FieldUABrowserMajor: kindUABrowserMajor,
	FieldUAOS: kindUAOS, FieldUAOSVersion: kindUAOSVersion,
	FieldUAVendor: kindUAVendor, FieldUABot: kindUABot, FieldUAClass: kindUAClass,
	FieldUAClassHash: kindUAClassHash, FieldPathHash: kindPathHash,
}

// Record is one parsed log line. The host's parser fills what the log
// format has; a pipe sees only the fields its manifest asked for (the others
// stay zero). Absent values: Status 0, Bytes -1, RequestTime NaN, an
// upstream entry "-" as NaN, strings "".
type Record struct {
	Time          int64 // Unix nanoseconds
	Status        int
	Bytes         int64
	RequestTime   float64   // seconds
	UpstreamTimes []float64 // seconds, one per upstream tried ("0.010, 0.004" → 2 entries)
	Method        string
	Path          string
	Query         string
	Protocol      string
	UserAgent     string
	Referer       string
	RemoteAddr    string
	Host          string
	// UA is the tokenised user agent. On the host it is filled lazily from
	// UserAgent when a pipe asks for FieldUA (UAParsed says it is done).
	UA       UA
	UAParsed bool
	// Agent is the classified user agent (host side: filled by the parser).
	Agent Agent
	// AgentClass is Agent's six fields joined by "|" (FieldUAClass).
	AgentClass string
	// AgentClassHash and PathHash are XXH64 of AgentClass and Path
	// (FieldUAClassHash, FieldPathHash): the host computes them while
	// encoding, a pipe receives them.
	AgentClassHash, PathHash uint64
	// Vars are the raw values of other log_format variables by name
	// (host side: every variable the format has; guest side: the var:NAME
	// fields of the manifest, in manifest order).
	Vars []Var

	rowOf  *Layout // the layout of the last Batch.Record into this record
	hashed uint8   // host side: which of the hashes above are computed (hashPath, hashClass)
}

const (
	hashPath uint8 = 1 << iota
	hashClass
)

// Agent is a user agent classified by the host; "" fields are unknown.
type Agent struct {
	Browser, BrowserMajor, OS, OSVersion, Vendor, Bot string
}

// Var is one named log_format variable.
type Var struct{ Name, Value string }

// Reset clears r for reuse, keeping slice capacity.
func (r *Record) Reset() {
	ups, prods, comms, vars := r.UpstreamTimes[:0], r.UA.Products[:0], r.UA.Comments[:0], r.Vars[:0]
	*r = Record{Bytes: -1, RequestTime: math.NaN(), UpstreamTimes: ups, Vars: vars}
	r.UA.Products, r.UA.Comments = prods, comms
}

// Var returns the value of log_format variable name ("" if absent).
func (r *Record) Var(name string) string {
	for _, v := range r.Vars {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

// Layout is the compiled field list of one manifest: it encodes a host
// record into a pipe's batch and decodes it in the guest.
type Layout struct {
	names []string // the manifest's field names, in order
	kinds []fieldKind
}

// varName is the log_format variable of column c, a var: field.
func (l *Layout) varName(c int) string { return l.names[c][len(FieldVarPrefix):] }

// NewLayout compiles a manifest's field names.
func NewLayout(fields []string) (*Layout, error) {
	l := &Layout{}
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f] {
			return nil, fmt.Errorf("field %q listed twice", f)
		}
		seen[f] = true
		l.names = append(l.names, f)
		if name, ok := strings.CutPrefix(f, FieldVarPrefix); ok {
			if name == "" {
				return nil, fmt.Errorf("field %q names no variable", f)
			}
			l.kinds = append(l.kinds, kindVar)
			continue
		}
		k, ok := fieldKinds[f]
		if !ok {
			return nil, fmt.Errorf("unknown record field %q", f)
		}
		l.kinds = append(l.kinds, k)
	}
	return l, nil
}

// Wants reports whether the layout includes the tokenised user agent, so
// the host can tokenise once per record before encoding for several pipes.
func (l *Layout) WantsUA() bool {
	for _, k := range l.kinds {
		if k == kindUA {
			return true
		}
	}
	return false
}
