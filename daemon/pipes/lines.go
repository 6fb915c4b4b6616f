package pipes

import (
	"context"
	"fmt"
	"strings"

	"github.com/canopy-dev/canopy/daemon/push"
	"github.com/canopy-dev/canopy/sdk/logformat"
)

// PushFormats are the formats tried, in order, for lines pushed over HTTP
// when the config names none: nginx's "main" with times, then "combined",
// then JSON lines.
var PushFormats = []string{"main", "combined", "json"}

// Lines runs pushed lines (the /push hook): each is parsed with the first
// of formats that matches (PushFormats when formats is empty).
func (m *Manager) Lines(ctx context.Context, formats []string, lines []string) (Result, error) {
	if len(formats) == 0 {
		formats = PushFormats
	}
	fs := make([]*logformat.Format, 0, len(formats))
	for _, s := range formats {
		f, err := m.Format(s)
		if err != nil {
			return Result{}, fmt.Errorf("log_format %q: %w", s, err)
		}
		fs = append(fs, f)
	}
	bs := make([][]byte, 0, len(lines))
	for _, l := range lines {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			bs = append(bs, []byte(l))
		}
	}
	return m.Run(ctx, fs, nil, bs), nil
}

// PushHook adapts Lines to the /push hook; formats as for Lines.
func (m *Manager) PushHook(formats []string) push.AccessLogFunc {
	return func(lines []string) (push.AccessLogResult, error) {
		r, err := m.Lines(context.Background(), formats, lines)
		return push.AccessLogResult{Lines: r.Lines, Bad: r.Bad, Numbers: r.Numbers, Markers: r.Markers,
			Version: r.Version, Errors: r.Errors}, err
	}
}
