package trend

import (
	"flag"
	"os"
	"testing"

	"github.com/canopy-dev/canopy/daemon/testenv"
)

func TestMain(m *testing.M) {
	testenv.NoFsync()
	flag.Parse()
	if err := InitLibrary(64 << 20); err != nil {
		panic(err)
	}
	// Helper processes for the kill -9 test run instead of the tests.
	if os.Getenv(crashHelperEnv) != "" {
		os.Exit(crashHelper())
	}
	os.Exit(m.Run())
}
