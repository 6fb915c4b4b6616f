package host

import (
	"math"
	"unsafe"

	"github.com/canopy-dev/canopy/sdk/logformat"
	"github.com/canopy-dev/canopy/sdk/pipeabi"
)

// FromLog fills dst (reset first) from a parsed line, applying the ABI's
// conventions for absent values. Strings alias src's byte slices (the line
// and src's own buffer): dst is valid while both are unchanged.
func FromLog(dst *pipeabi.Record, src *logformat.Record) {
	dst.Reset()
	has := src.Has
	if has&logformat.FieldTime != 0 {
		dst.Time = src.Time.UnixNano()
	}
	if has&logformat.FieldStatus != 0 {
		dst.Status = src.Status
	}
	if has&logformat.FieldBytes != 0 {
		dst.Bytes = src.Bytes
	}
	if has&logformat.FieldRequestTime != 0 {
		dst.RequestTime = src.RequestTime
	} else {
		dst.RequestTime = math.NaN()
	}
	if has&logformat.FieldUpstreamTime != 0 {
		dst.UpstreamTimes = append(dst.UpstreamTimes, src.UpstreamTimes...)
	}
	dst.Method = str(src.Method)
	dst.Path = str(src.Path)
	dst.Query = str(src.Query)
	dst.Protocol = str(src.Protocol)
	dst.UserAgent = str(src.UserAgent)
	dst.Referer = str(src.Referer)
	dst.RemoteAddr = str(src.RemoteAddr)
	dst.Host = str(src.Host)
	if ua := &src.UA; ua.Class != "" { // classified (Reset left Agent zero)
		dst.Agent = pipeabi.Agent{Browser: ua.Browser, BrowserMajor: ua.BrowserMajor, OS: ua.OS,
			OSVersion: ua.OSVersion, Vendor: ua.Vendor, Bot: ua.Bot}
		dst.AgentClass = ua.Class
	}
	for _, v := range src.Vars {
		dst.Vars = append(dst.Vars, pipeabi.Var{Name: v.Name, Value: str(v.Value)})
	}
}

func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
