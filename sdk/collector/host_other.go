//go:build !wasip1

package collector

import (
	"errors"
	"time"
)

// Outside WebAssembly there is no agent to ask; module logic is tested with
// its own fakes (see the built-in modules' tests).
var errNoHost = errors.New("collector: host calls exist only inside canopy-agent (GOOS=wasip1)")

func hostHTTPGet(string, time.Duration) ([]byte, error) { return nil, errNoHost }

func hostTailRead(string, int) ([]byte, error) { return nil, errNoHost }

func hostStatfs(string) ([]byte, error) { return nil, errNoHost }
