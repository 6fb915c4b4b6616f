package push

// Result is the answer to a push: what merged.
type Result struct {
	Numbers  int      `json:"numbers"`
	Markers  int      `json:"markers"`
	Lines    int      `json:"lines"`
	BadLines int      `json:"bad_lines"`
	Version  uint64   `json:"version"`
	Errors   []string `json:"errors,omitempty"`
}

// AccessLogResult says what running access-log lines through the pipes did.
type AccessLogResult struct {
	Lines   int    `json:"lines"`     // lines read
	Bad     int    `json:"bad_lines"` // lines that did not parse
	Numbers int    `json:"numbers"`   // numbers the pipes merged
	Markers int    `json:"markers"`
	Version uint64 `json:"version"`
	// Errors samples why lines were bad ("line 3: ..."), a few at most.
	Errors []string `json:"errors,omitempty"`
}

// AccessLogFunc parses access-log lines, runs them through the pipes and
// merges what the pipes emit. The pipes engine provides it (at a relay,
// the relay's queues); HTTP pushes and sockets with format accesslog use it.
type AccessLogFunc func(lines []string) (AccessLogResult, error)
