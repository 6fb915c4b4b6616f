package host

import (
	"math"
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// FromLog fills dst (reset first, as by dst.Reset) from a parsed line,
// applying the ABI's conventions for absent values. Strings alias src's
// byte slices (the line and src's own buffer): dst is valid while both are
// unchanged.
func FromLog(dst *pipeabi.Record, src *logformat.Record) {
	// Cleared in place and then set field by field: Reset's literal is
	// built on the stack and copied over the 400-byte record, which cost
	// as much as the rest of FromLog. UpstreamTimes and Vars keep their
	// capacity; the UA tokens do not: a record's UA slices may be the
	// agent cache's (AgentCache.Fill), which a tokenisation into them
	// (pipeabi's encoder, for a record whose UAParsed is false) would
	// overwrite.
	ups, vars := dst.UpstreamTimes[:0], dst.Vars[:0]
	*dst = pipeabi.Record{}
	has := src.Has
	if has&logformat.FieldTime != 0 {
		dst.Time = src.Time.UnixNano()
	}
	if has&logformat.FieldStatus != 0 {
		dst.Status = src.Status
	}
	dst.Bytes = -1
	if has&logformat.FieldBytes != 0 {
		dst.Bytes = src.Bytes
	}
	dst.RequestTime = math.NaN()
	if has&logformat.FieldRequestTime != 0 {
		dst.RequestTime = src.RequestTime
	}
	if has&logformat.FieldUpstreamTime != 0 {
		ups = append(ups, src.UpstreamTimes...)
	}
	dst.UpstreamTimes = ups
	dst.Method = str(src.Method)
	dst.Path = str(src.Path)
	dst.Query = str(src.Query)
	dst.Protocol = str(src.Protocol)
	dst.UserAgent = str(src.UserAgent)
	dst.Referer = str(src.Referer)
	dst.RemoteAddr = str(src.RemoteAddr)
	dst.Host = str(src.Host)
	if ua := &src.UA; ua.Class != "" { // classified
		dst.Agent = pipeabi.Agent{Browser: ua.Browser, BrowserMajor: ua.BrowserMajor, OS: ua.OS,
			OSVersion: ua.OSVersion, Vendor: ua.Vendor, Bot: ua.Bot}
		dst.AgentClass = ua.Class
	}
	for _, v := range src.Vars {
		vars = append(vars, pipeabi.Var{Name: v.Name, Value: str(v.Value)})
	}
	dst.Vars = vars
}

func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
